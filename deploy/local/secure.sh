# shellcheck shell=bash
# A second, opt-in local Kafka broker that only speaks SASL_SSL: sourced by up-secure.sh and
# down-secure.sh (which set -euo pipefail themselves); sets no shell options.
#
# Why a second broker: the shared PLAINTEXT broker on $KAFKA_PORT (19092) stays exactly as the rest of
# the suite and other running jobs expect it; this one is started and stopped on its own (the security
# tests start a private one in a temporary KAFKA_SECURE_HOME on free ports, so runs never share it).
#
#   listener SASL_SSL   $LOCAL_HOST:$KAFKA_SASL_PORT (19094): TLS (server cert signed by a local CA,
#                       SAN IP:127.0.0.1 + DNS:localhost; client certificates $KAFKA_SECURE_CLIENT_AUTH),
#                       SASL SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN
#   listener CONTROLLER $LOCAL_HOST:$KAFKA_SECURE_CONTROLLER_PORT: SASL_PLAINTEXT/PLAIN, KRaft only,
#                       the node authenticates to itself as User:broker
#   authorizer          StandardAuthorizer, super users User:broker and User:admin, deny when no ACL
#                       matches ($KAFKA_SECURE_AUTHORIZER=0 turns it off)
#
# Every start is fresh: new CA and certificates (openssl, EC P-256, 30 days), new random passwords, a
# newly formatted log dir. Users ($KAFKA_SECURE_USERS) get SCRAM-SHA-512 and SCRAM-SHA-256 credentials
# at format time (`StorageTool format --add-scram`, KRaft bootstrap records) and the same password
# for PLAIN (static JAAS users). Layout of $KAFKA_SECURE_HOME (default $LOCAL_CACHE/kafka-secure):
#   tls/ca.pem                    PEM CA for the clients (DETECTOR_KAFKA_CA_FILE) and the broker truststore
#   tls/client.pem, client.key    a client certificate + key for mTLS (DETECTOR_KAFKA_CERT_FILE / _KEY_FILE)
#   tls/broker-keystore.pem       the broker's key + chain (PEM keystore)
#   users/<name>.password         each user's password (DETECTOR_KAFKA_SASL_PASSWORD_FILE), mode 600
#   server.properties, data/, kafka.log, kafka.pid

# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-19094}"
KAFKA_SECURE_CONTROLLER_PORT="${KAFKA_SECURE_CONTROLLER_PORT:-$((KAFKA_SASL_PORT + 1))}"
KAFKA_SECURE_HOME="${KAFKA_SECURE_HOME:-$LOCAL_CACHE/kafka-secure}"
KAFKA_SECURE_USERS="${KAFKA_SECURE_USERS:-admin worker notifier enforcer gateway analyst outsider}"
KAFKA_SECURE_USER="${KAFKA_SECURE_USER:-admin}"      # whose settings up-secure.sh prints
KAFKA_SECURE_CLIENT_AUTH="${KAFKA_SECURE_CLIENT_AUTH:-required}"   # required | requested | none
KAFKA_SECURE_AUTHORIZER="${KAFKA_SECURE_AUTHORIZER:-1}"
KAFKA_SECURE_HEAP_OPTS="${KAFKA_SECURE_HEAP_OPTS:--Xms128m -Xmx384m}"
SECURE_BOOTSTRAP="$LOCAL_HOST:$KAFKA_SASL_PORT"
SECURE_TLS="$KAFKA_SECURE_HOME/tls"
SECURE_USERS_DIR="$KAFKA_SECURE_HOME/users"
SECURE_DATA="$KAFKA_SECURE_HOME/data"
SECURE_CONF="$KAFKA_SECURE_HOME/server.properties"
SECURE_LOG4J="$KAFKA_SECURE_HOME/log4j2.properties"
SECURE_PIDFILE="$KAFKA_SECURE_HOME/kafka.pid"
SECURE_LOG="$KAFKA_SECURE_HOME/kafka.log"
SECURE_LOCK="$KAFKA_SECURE_HOME.lock"

mkdir -p "$KAFKA_SECURE_HOME"

# Serialise up-secure/down-secure on this KAFKA_SECURE_HOME only (never blocks the shared scripts).
secure_with_lock() {
    (
        flock -w 300 8 || die "could not take $SECURE_LOCK within 300 s"
        "$@"
    ) 8>"$SECURE_LOCK"
}

# secure_pid -> the broker's pid if its pidfile names a live kafka.Kafka running *this* config.
secure_pid() {
    local pid
    [[ -s "$SECURE_PIDFILE" ]] || return 1
    pid="$(cat "$SECURE_PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "kafka.Kafka $SECURE_CONF" || return 1
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]] || return 1
    printf '%s\n' "$pid"
}

secure_password() { cat "$SECURE_USERS_DIR/$1.password"; }

secure_make_tls() {
    local d="$SECURE_TLS" log="$KAFKA_SECURE_HOME/tls.log"
    rm -rf "$d"; mkdir -p "$d"; chmod 700 "$d"
    local -a ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    {
        openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 30 -subj "/CN=xd-local-ca" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        # name CN SAN EKU
        local name cn san eku
        while read -r name cn san eku; do
            openssl req "${ec[@]}" -keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=$cn" </dev/null
            printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s\n' \
                "$eku" "$([[ "$san" != - ]] && printf 'subjectAltName=%s' "$san")" >"$d/$name.ext"
            openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
                -out "$d/$name.pem" -days 30 -extfile "$d/$name.ext" </dev/null
        done <<EOF
broker localhost IP:127.0.0.1,DNS:localhost serverAuth,clientAuth
client xd-client - clientAuth
EOF
    } >"$log" 2>&1 || { tail -n 20 "$log" >&2; die "kafka-secure: certificate generation failed (log: $log)"; }
    # PEM keystore: unencrypted PKCS#8 key + certificate chain; PEM truststore: the CA.
    cat "$d/broker.key" "$d/broker.pem" "$d/ca.pem" >"$d/broker-keystore.pem"
    rm -f "$d"/*.csr "$d"/*.ext "$d"/*.srl
    chmod 600 "$d"/*.key "$d/broker-keystore.pem"
}

secure_make_users() {
    rm -rf "$SECURE_USERS_DIR"; mkdir -p "$SECURE_USERS_DIR"; chmod 700 "$SECURE_USERS_DIR"
    local u
    for u in broker $KAFKA_SECURE_USERS; do
        [[ "$u" =~ ^[a-z][a-z0-9_-]*$ ]] || die "kafka-secure: bad user name '$u'"
        (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=\n' | head -c 28 >"$SECURE_USERS_DIR/$u.password")
    done
}

secure_write_config() {
    local broker_pw plain_users="" u
    broker_pw="$(secure_password broker)"
    for u in broker $KAFKA_SECURE_USERS; do plain_users+=" user_$u=\"$(secure_password "$u")\""; done
    local plain="org.apache.kafka.common.security.plain.PlainLoginModule required"
    (umask 077; cat >"$SECURE_CONF" <<EOF
# Generated by deploy/local/secure.sh at each start; holds passwords (mode 600).
# Single-node KRaft (combined broker + controller), loopback only, SASL_SSL for clients.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$LOCAL_HOST:$KAFKA_SECURE_CONTROLLER_PORT
listeners=SASL_SSL://$LOCAL_HOST:$KAFKA_SASL_PORT,CONTROLLER://$LOCAL_HOST:$KAFKA_SECURE_CONTROLLER_PORT
advertised.listeners=SASL_SSL://$LOCAL_HOST:$KAFKA_SASL_PORT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
sasl.mechanism.controller.protocol=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=$plain username="broker" password="$broker_pw" user_broker="$broker_pw";
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=$plain username="broker" password="$broker_pw"$plain_users;
ssl.keystore.type=PEM
ssl.keystore.location=$SECURE_TLS/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SECURE_TLS/ca.pem
listener.name.sasl_ssl.ssl.client.auth=$KAFKA_SECURE_CLIENT_AUTH
ssl.endpoint.identification.algorithm=https
EOF
    if [[ "$KAFKA_SECURE_AUTHORIZER" == "1" ]]; then
        cat >>"$SECURE_CONF" <<EOF
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:broker;User:admin
allow.everyone.if.no.acl.found=false
EOF
    fi
    cat >>"$SECURE_CONF" <<EOF
log.dirs=$SECURE_DATA
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
num.network.threads=2
num.io.threads=2
EOF
    )
    kafka_write_log4j "$SECURE_LOG4J"
}

secure_java_cmd() { KAFKA_HEAP_OPTS="$KAFKA_SECURE_HEAP_OPTS" KAFKA_LOG4J="$SECURE_LOG4J" kafka_java_cmd; }

secure_format() {
    rm -rf "$SECURE_DATA"; mkdir -p "$SECURE_DATA"
    local -a scram=() cmd
    local u pw log="$KAFKA_SECURE_HOME/format.log"
    for u in $KAFKA_SECURE_USERS; do
        pw="$(secure_password "$u")"
        scram+=(--add-scram "SCRAM-SHA-512=[name=$u,password=$pw]" --add-scram "SCRAM-SHA-256=[name=$u,password=$pw]")
    done
    mapfile -d '' cmd < <(secure_java_cmd)
    "${cmd[@]}" -XX:TieredStopAtLevel=1 kafka.tools.StorageTool format -t "$(kafka_new_cluster_id)" \
        -c "$SECURE_CONF" "${scram[@]}" >"$log" 2>&1 \
        || { tail -n 20 "$log" >&2; die "kafka-secure: storage format failed (log: $log)"; }
}

# secure_probe -> 0 once the broker answers a metadata request over SASL_SSL as $KAFKA_SECURE_USER.
secure_probe() {
    port_open "$KAFKA_SASL_PORT" || return 1
    [[ -x "$VENV_PY" ]] || die "kafka-secure: no $VENV_PY (run make install)"
    XD_PROBE_PASSWORD="$(secure_password admin)" "$VENV_PY" - "$SECURE_BOOTSTRAP" "$SECURE_TLS" <<'EOF' >/dev/null 2>&1
import logging, os, sys
logging.disable(logging.CRITICAL)
from kafka import KafkaAdminClient
boot, tls = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(bootstrap_servers=boot, client_id="local-secure-probe", request_timeout_ms=3000,
                         security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                         sasl_plain_username="admin", sasl_plain_password=os.environ["XD_PROBE_PASSWORD"],
                         ssl_cafile=f"{tls}/ca.pem", ssl_certfile=f"{tls}/client.pem", ssl_keyfile=f"{tls}/client.key")
try:
    sys.exit(0 if admin.describe_cluster().get("brokers") else 1)
finally:
    admin.close()
EOF
}

secure_start() {
    local pid p t0
    if pid="$(secure_pid)"; then
        if secure_probe; then say "kafka-secure: already up (pid $pid) at $SECURE_BOOTSTRAP"; return 0; fi
        die "kafka-secure: pid $pid is running but not answering on $SECURE_BOOTSTRAP; run down-secure.sh"
    fi
    [[ -f "$KAFKA_STAMP" ]] || bash "$LOCAL_DIR/install.sh"
    for p in "$KAFKA_SASL_PORT" "$KAFKA_SECURE_CONTROLLER_PORT"; do
        port_open "$p" && die "kafka-secure: port $LOCAL_HOST:$p is taken (set KAFKA_SASL_PORT / KAFKA_SECURE_CONTROLLER_PORT)"
    done
    command -v openssl >/dev/null || die "kafka-secure: openssl is needed to make the certificates"
    t0="$(now_ms)"
    secure_make_tls
    secure_make_users
    secure_write_config
    secure_format
    local -a cmd; mapfile -d '' cmd < <(secure_java_cmd)
    # setsid: own session (no Ctrl-C from the caller); 8>&-: do not hold secure_with_lock's fd.
    setsid "${cmd[@]}" kafka.Kafka "$SECURE_CONF" >"$SECURE_LOG" 2>&1 </dev/null 8>&- 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$SECURE_PIDFILE"
    local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    until secure_probe; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            tail -n 30 "$SECURE_LOG" >&2 || true
            die "kafka-secure: not ready within ${KAFKA_START_TIMEOUT}s (log: $SECURE_LOG)"
        fi
        sleep 0.3
    done
    say "kafka-secure: up (pid $pid) at SASL_SSL://$SECURE_BOOTSTRAP in $(elapsed_s "$t0") s"
}

secure_stop() {
    local pid t0 deadline
    if ! pid="$(secure_pid)"; then rm -f "$SECURE_PIDFILE"; say "kafka-secure: not running"; return 0; fi
    t0="$(now_ms)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
    while secure_pid >/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if secure_pid >/dev/null; then
        say "kafka-secure: still running after ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$SECURE_PIDFILE"
    say "kafka-secure: stopped (pid $pid) in $(elapsed_s "$t0") s"
}

# The DETECTOR_* settings of user $1 against this broker, one KEY=VALUE per line (no password value).
secure_settings() {
    local user="${1:-$KAFKA_SECURE_USER}"
    printf 'DETECTOR_KAFKA_BOOTSTRAP=%s\n' "$SECURE_BOOTSTRAP"
    printf 'DETECTOR_KAFKA_SECURITY_PROTOCOL=SASL_SSL\n'
    printf 'DETECTOR_KAFKA_SASL_MECHANISM=SCRAM-SHA-512\n'
    printf 'DETECTOR_KAFKA_SASL_USERNAME=%s\n' "$user"
    printf 'DETECTOR_KAFKA_SASL_PASSWORD_FILE=%s\n' "$SECURE_USERS_DIR/$user.password"
    printf 'DETECTOR_KAFKA_CA_FILE=%s\n' "$SECURE_TLS/ca.pem"
    printf 'DETECTOR_KAFKA_CERT_FILE=%s\n' "$SECURE_TLS/client.pem"
    printf 'DETECTOR_KAFKA_KEY_FILE=%s\n' "$SECURE_TLS/client.key"
}
