#!/usr/bin/env bash
# Control one local service, e.g. for fault-injection tests:
#   ctl.sh start|stop|restart|status kafka|redis|all
# status exits 0 when every named service is up and answering, 3 otherwise.
# start does not install: run up.sh (or install.sh) once first.
set -euo pipefail
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

usage() { echo "usage: $(basename "$0") start|stop|restart|status kafka|redis|all" >&2; exit 2; }
(($# == 2)) || usage
action="$1"
case "$2" in
    kafka|redis) services=("$2") ;;
    all) services=(redis kafka) ;;
    *) usage ;;
esac

status() {
    local svc rc=0 pid
    for svc in "${services[@]}"; do
        if pid="$(pid_of "$svc")" && svc_healthy "$svc"; then
            case "$svc" in
                kafka) echo "kafka: up (pid $pid) $KAFKA_BOOTSTRAP" ;;
                redis) echo "redis: up (pid $pid) $REDIS_URL" ;;
            esac
        elif pid="$(pid_of "$svc")"; then
            echo "$svc: running (pid $pid) but not answering"; rc=3
        else
            echo "$svc: down"; rc=3
        fi
    done
    return "$rc"
}

run() {
    local svc
    case "$action" in
        start) for svc in "${services[@]}"; do svc_start "$svc"; done ;;
        stop) for svc in "${services[@]}"; do svc_stop "$svc"; done ;;
        restart) for svc in "${services[@]}"; do svc_stop "$svc"; svc_start "$svc"; done ;;
        *) usage ;;
    esac
}

case "$action" in
    status) status ;;
    start|stop|restart) with_lock run ;;
    *) usage ;;
esac
