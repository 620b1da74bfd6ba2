#!/usr/bin/env bash
# Stop the opt-in SASL_SSL broker of $KAFKA_SECURE_HOME (SIGTERM, SIGKILL after a timeout). Idempotent.
#   --purge   also delete its certificates, passwords and data (a start makes new ones anyway)
set -euo pipefail
# shellcheck source=secure.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secure.sh"

purge=0
for arg in "$@"; do
    case "$arg" in
        --purge) purge=1 ;;
        *) die "unknown option: $arg (usage: down-secure.sh [--purge])" ;;
    esac
done

main() {
    secure_stop
    if ((purge)); then
        rm -rf "$SECURE_TLS" "$SECURE_USERS_DIR" "$SECURE_DATA" "$SECURE_CONF"
        say "kafka-secure: purged $KAFKA_SECURE_HOME"
    fi
}

secure_with_lock main
