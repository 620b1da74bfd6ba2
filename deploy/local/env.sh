# shellcheck shell=bash
# Source me:  source deploy/local/env.sh
# Exports the connection settings of the local services (deploy/local/up.sh) for the detector and tests.
# Honours KAFKA_PORT / REDIS_PORT like the other scripts. Sets no shell options.
eval "$(
    bash -c '
        set -euo pipefail
        source "$1/common.sh" >/dev/null
        printf "export DETECTOR_KAFKA_BOOTSTRAP=%q\n" "$KAFKA_BOOTSTRAP"
        printf "export DETECTOR_REDIS_URL=%q\n" "$REDIS_URL"
    ' env.sh "$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
)"
