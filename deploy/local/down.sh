#!/usr/bin/env bash
# Stop the local Kafka and Redis (SIGTERM, then SIGKILL after a timeout). Idempotent.
#   --purge   also delete their data (Kafka log dirs, Redis AOF); the resolved Kafka jars are kept.
set -euo pipefail
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

purge=0
for arg in "$@"; do
    case "$arg" in
        --purge) purge=1 ;;
        -h|--help) sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option: $arg (usage: down.sh [--purge])" ;;
    esac
done

main() {
    kafka_stop
    redis_stop
    rm -f "$AUTO_MARK_DIR"/*
    if ((purge)); then
        rm -rf "$KAFKA_DATA" "$KAFKA_HOME/formatted-for" "$REDIS_DATA"
        say "purged Kafka and Redis data under $LOCAL_CACHE"
    fi
}

with_lock main
