#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions run through with_lock/trap look unreachable to shellcheck
# Run a command with the local Kafka and Redis up, then stop what this run started:
#   bash deploy/local/with-services.sh .venv/bin/pytest -q tests
# Exits with the command's exit code. Services that were already up before (make up, or another
# with-services run in the same tree) are left up; services it started are stopped when the last
# concurrent with-services run sharing this cache ends (one lease file per run).
set -euo pipefail
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

(($# > 0)) || die "usage: with-services.sh COMMAND [ARGS...]"
lease="$LEASE_DIR/$$"

lease_alive() {
    local pid; pid="$(basename "$1")"
    [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'with-services.sh'
}

acquire() {
    local svc
    for svc in redis kafka; do
        if ! svc_healthy "$svc"; then touch "$AUTO_MARK_DIR/$svc.pending"; fi
    done
    : >"$lease"
    local rc=0
    bash "$LOCAL_DIR/up.sh" >/dev/null || rc=$?
    # Mark what this run brought up (even if up.sh failed half-way) so release() stops it again.
    for svc in redis kafka; do
        if [[ -f "$AUTO_MARK_DIR/$svc.pending" ]]; then
            if pid_of "$svc" >/dev/null; then touch "$AUTO_MARK_DIR/$svc"; fi
            rm -f "$AUTO_MARK_DIR/$svc.pending"
        fi
    done
    return "$rc"
}

release() {
    rm -f "$lease"
    local f
    for f in "$LEASE_DIR"/*; do
        [[ -e "$f" ]] || continue
        if lease_alive "$f"; then
            say "with-services: another run (pid $(basename "$f")) still uses the services; leaving them up"
            return 0
        fi
        rm -f "$f"
    done
    local svc
    for svc in kafka redis; do
        if [[ -f "$AUTO_MARK_DIR/$svc" ]]; then
            svc_stop "$svc" || true
            rm -f "$AUTO_MARK_DIR/$svc"
        fi
    done
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    with_lock release || say "with-services: stopping services failed"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0="$(now_ms)"
with_lock acquire || die "could not start the local services (logs: $LOG_DIR)"
say "services ready in $(elapsed_s "$t0") s: kafka $KAFKA_BOOTSTRAP, redis $REDIS_URL"
# shellcheck source=env.sh
source "$LOCAL_DIR/env.sh"

set +e
"$@"
rc=$?
set -e
exit "$rc"
