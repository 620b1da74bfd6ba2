#!/usr/bin/env bash
# A second, TLS-only redis-server with one ACL user per detector process, beside (never instead of) the
# shared local Redis of common.sh. For trying and testing the production Redis settings locally:
#   redis-tls.sh start             certificates + passwords (made on first use), config, start, wait for PONG
#   redis-tls.sh stop              SIGTERM the server this script started (its pid file), SIGKILL after 20 s
#   redis-tls.sh status            exit 0 when it answers PING over TLS as xd-admin, 3 otherwise
#   redis-tls.sh env ROLE          export lines for ROLE = worker|notify|enforce|admin, e.g.
#                                  eval "$(bash deploy/local/redis-tls.sh env worker)"; detector worker
#   redis-tls.sh acl               the ACL rules as ACL SETUSER commands (password placeholder), for a real Redis
#
# Everything lives in $REDIS_TLS_HOME (default .cache/local/redis-tls): tls/ (a CA, the server certificate for
# 127.0.0.1/localhost and one client certificate, EC P-256, made with openssl, renewed within a day of expiry),
# users/<user>.pass (random, mode 0600; redis.conf holds only their SHA-256), redis.conf, redis.log, redis.pid.
# The server listens on 127.0.0.1:$REDIS_TLS_PORT (default 16380) with TLS only (port 0), requires a client
# certificate (tls-auth-clients yes) and disables the default user. The ACL rules below are the minimal ones
# of docs/security.md; key patterns follow DETECTOR_NOTIFY_REDIS_PREFIX and DETECTOR_ENFORCER_REDIS_PREFIX.
set -euo pipefail
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

REDIS_TLS_HOME="${REDIS_TLS_HOME:-$LOCAL_CACHE/redis-tls}"
REDIS_TLS_PORT="${REDIS_TLS_PORT:-16380}"
TLS_DIR="$REDIS_TLS_HOME/tls"
USERS_DIR="$REDIS_TLS_HOME/users"
TLS_CONF="$REDIS_TLS_HOME/redis.conf"
TLS_PIDFILE="$REDIS_TLS_HOME/redis.pid"
TLS_LOG="$REDIS_TLS_HOME/redis.log"
TLS_URL="rediss://$LOCAL_HOST:$REDIS_TLS_PORT/0"
CERT_DAYS=30

# The minimal ACL of each detector process: "<user> <rules>". Derived from the code (docs/security.md):
#   worker  streams/redis_store.py: HGET, HGETALL, SMEMBERS, MGET, EVALSHA (+ SCRIPT LOAD after a restart
#           of Redis), and inside its two Lua scripts HGET, HSET, SET, SADD, DEL, SREM; keys xd:{p<N>}:*, xd:{scorer}:*
#   notify  detector/outputs/notifier.py NotifyMemory: EXISTS, GET, SET (PX/PXAT); keys <notify prefix>*
#   enforce detector/outputs/enforcer.py: GET, SET (PXAT), DEL, SCAN (reconcile); keys <enforcer prefix>*
# Every process also sends PING (start-up check, redis-py health checks). No pub/sub channels.
acl_rules() {
    local notify="${DETECTOR_NOTIFY_REDIS_PREFIX:-xd:notify:}" enforce="${DETECTOR_ENFORCER_REDIS_PREFIX:-xd:enf:}"
    printf '%s\n' \
        "xd-worker resetchannels ~xd:{* -@all +ping +hget +hgetall +smembers +mget +evalsha +script|load +hset +set +sadd +del +srem" \
        "xd-notify resetchannels ~${notify}* -@all +ping +exists +get +set" \
        "xd-enforce resetchannels ~${enforce}* -@all +ping +get +set +del +scan"
}

user_of() {
    case "$1" in
        worker) echo xd-worker ;; notify) echo xd-notify ;; enforce) echo xd-enforce ;; admin) echo xd-admin ;;
        *) die "unknown role: $1 (worker|notify|enforce|admin)" ;;
    esac
}

make_certs() {
    mkdir -p "$TLS_DIR"
    if [[ -f "$TLS_DIR/client.crt" ]] && openssl x509 -checkend 86400 -noout -in "$TLS_DIR/server.crt" >/dev/null 2>&1 \
        && openssl x509 -checkend 86400 -noout -in "$TLS_DIR/client.crt" >/dev/null 2>&1; then
        return 0
    fi
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes) leaf
    (
        umask 077
        cd "$TLS_DIR"
        openssl req -x509 -new "${ec[@]}" -keyout ca.key -out ca.crt -days "$CERT_DAYS" \
            -subj "/CN=extraction-detector local Redis CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        for leaf in server client; do
            openssl req -new "${ec[@]}" -keyout "$leaf.key" -out "$leaf.csr" \
                -subj "/CN=xd-redis-$leaf" 2>/dev/null
            {
                echo "basicConstraints=critical,CA:FALSE"
                echo "keyUsage=critical,digitalSignature,keyEncipherment"
                echo "subjectKeyIdentifier=hash"
                echo "authorityKeyIdentifier=keyid,issuer"
                if [[ "$leaf" == server ]]; then
                    echo "extendedKeyUsage=serverAuth"
                    echo "subjectAltName=IP:$LOCAL_HOST,DNS:localhost"
                else
                    echo "extendedKeyUsage=clientAuth"
                fi
            } >"$leaf.ext"
            openssl x509 -req -in "$leaf.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$leaf.crt" \
                -days "$CERT_DAYS" -extfile "$leaf.ext" 2>/dev/null
            rm -f "$leaf.csr" "$leaf.ext"
        done
        chmod 0644 ca.crt server.crt client.crt
    ) || die "redis-tls: making certificates with openssl failed"
    say "redis-tls: certificates in $TLS_DIR (CA, server for $LOCAL_HOST, client)"
}

password_file() {
    local user="$1" f="$USERS_DIR/$1.pass"
    if [[ ! -s "$f" ]]; then
        mkdir -p "$USERS_DIR"
        (umask 077; openssl rand -hex 24 >"$f")
    fi
    printf '%s\n' "$f"
}

password_hash() { tr -d '\n' <"$(password_file "$1")" | sha256sum | cut -d' ' -f1; }

write_config() {
    mkdir -p "$REDIS_TLS_HOME/data"
    local line user rules
    {
        echo "# Generated by deploy/local/redis-tls.sh; edits are overwritten at each start."
        echo "bind $LOCAL_HOST"
        echo "protected-mode yes"
        echo "port 0"
        echo "tls-port $REDIS_TLS_PORT"
        echo "tls-cert-file $TLS_DIR/server.crt"
        echo "tls-key-file $TLS_DIR/server.key"
        echo "tls-ca-cert-file $TLS_DIR/ca.crt"
        echo "tls-auth-clients yes"
        echo "tls-protocols \"TLSv1.2 TLSv1.3\""
        echo "daemonize no"
        echo "pidfile $TLS_PIDFILE"
        echo "logfile $TLS_LOG"
        echo "dir $REDIS_TLS_HOME/data"
        echo "databases 16"
        echo "save \"\""
        echo "appendonly no"
        echo "acllog-max-len 256"
        echo "user default off resetchannels -@all"
        echo "user xd-admin on #$(password_hash xd-admin) ~* &* +@all"
        while read -r user rules; do
            echo "user $user on #$(password_hash "$user") $rules"
        done < <(acl_rules)
    } >"$TLS_CONF.tmp"
    mv "$TLS_CONF.tmp" "$TLS_CONF"
}

tls_pid() {
    [[ -s "$TLS_PIDFILE" ]] || return 1
    local pid; pid="$(cat "$TLS_PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "redis-server" || return 1
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]] || return 1
    printf '%s\n' "$pid"
}

tls_probe() {
    [[ -f "$TLS_DIR/client.crt" ]] || return 1
    [[ "$(REDISCLI_AUTH="$(cat "$(password_file xd-admin)")" redis-cli --no-auth-warning --tls \
        --cacert "$TLS_DIR/ca.crt" --cert "$TLS_DIR/client.crt" --key "$TLS_DIR/client.key" \
        -h "$LOCAL_HOST" -p "$REDIS_TLS_PORT" --user xd-admin ping 2>/dev/null)" == "PONG" ]]
}

start() {
    local pid
    if pid="$(tls_pid)"; then
        if tls_probe; then say "redis-tls: already up (pid $pid) at $TLS_URL"; return 0; fi
        die "redis-tls: pid $pid is running but not answering; run: $0 stop"
    fi
    port_open "$REDIS_TLS_PORT" && die "redis-tls: port $LOCAL_HOST:$REDIS_TLS_PORT is taken (set REDIS_TLS_PORT)"
    local t0; t0="$(now_ms)"
    make_certs
    write_config
    setsid redis-server "$TLS_CONF" >>"$REDIS_TLS_HOME/redis.out" 2>&1 </dev/null 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$TLS_PIDFILE"
    local deadline=$((SECONDS + REDIS_START_TIMEOUT))
    while ! tls_probe; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            tail -n 20 "$TLS_LOG" "$REDIS_TLS_HOME/redis.out" >&2 2>/dev/null || true
            die "redis-tls: not ready (log: $TLS_LOG)"
        fi
        sleep 0.1
    done
    say "redis-tls: up (pid $pid) at $TLS_URL in $(elapsed_s "$t0") s"
}

stop() {
    local pid
    if ! pid="$(tls_pid)"; then rm -f "$TLS_PIDFILE"; say "redis-tls: not running"; return 0; fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + REDIS_STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == "Z" ]] && break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$TLS_PIDFILE"
    say "redis-tls: stopped (pid $pid)"
}

print_env() {
    local user; user="$(user_of "$1")"
    printf 'export DETECTOR_REDIS_URL=%q\n' "$TLS_URL"
    printf 'export DETECTOR_REDIS_CA_FILE=%q\n' "$TLS_DIR/ca.crt"
    printf 'export DETECTOR_REDIS_CERT_FILE=%q\n' "$TLS_DIR/client.crt"
    printf 'export DETECTOR_REDIS_KEY_FILE=%q\n' "$TLS_DIR/client.key"
    printf 'export DETECTOR_REDIS_USERNAME=%q\n' "$user"
    printf 'export DETECTOR_REDIS_PASSWORD_FILE=%q\n' "$(password_file "$user")"
}

locked() {
    mkdir -p "$REDIS_TLS_HOME"
    (
        flock -w 120 9 || die "redis-tls: could not lock $REDIS_TLS_HOME/.lock"
        "$@"
    ) 9>"$REDIS_TLS_HOME/.lock"
}

case "${1:-}" in
    start) locked start ;;
    stop) locked stop ;;
    status)
        if tls_pid >/dev/null && tls_probe; then echo "redis-tls: up at $TLS_URL"; else echo "redis-tls: down"; exit 3; fi ;;
    env) (($# == 2)) || die "usage: $0 env worker|notify|enforce|admin"; print_env "$2" ;;
    acl) while read -r user rules; do echo "ACL SETUSER $user reset on ><password> $rules"; done < <(acl_rules) ;;
    *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
