#!/usr/bin/env bash
# Start the local services (installing them first if needed): Redis on 127.0.0.1:$REDIS_PORT and a
# single-node KRaft Kafka on 127.0.0.1:$KAFKA_PORT. Idempotent: what is already up and healthy is left as is.
# Prints the Kafka bootstrap server and the Redis URL on stdout.
set -euo pipefail
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

main() {
    bash "$LOCAL_DIR/install.sh"
    redis_start
    kafka_start
}

with_lock main
printf 'DETECTOR_KAFKA_BOOTSTRAP=%s\n' "$KAFKA_BOOTSTRAP"
printf 'DETECTOR_REDIS_URL=%s\n' "$REDIS_URL"
