#!/usr/bin/env bash
# Idempotent install of what the local services need, from package registries only:
#   - redis-server (Debian), Java 17+ and Maven (Debian) -- only when missing;
#   - prometheus (Debian: the server and promtool, for the alerting-rule tests) -- only when missing;
#   - the Kafka broker jars (Maven Central, pinned in deploy/local/kafka/pom.xml) -- only when the
#     resolved set is missing or the pom changed.
# Logs under .cache/local/logs; one short line per step on stderr.
# Maven uses its default local repository (~/.m2) unless MAVEN_REPO_LOCAL is set.
set -euo pipefail
# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

SUDO=""
if [[ "$(id -u)" != "0" ]]; then
    command -v sudo >/dev/null || die "not root and no sudo: install redis-server, openjdk-17-jre-headless, maven, prometheus by hand"
    SUDO="sudo"
fi

java_ok() {
    command -v java >/dev/null || return 1
    local v
    v="$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')"
    [[ "${v%%.*}" =~ ^[0-9]+$ ]] && ((${v%%.*} >= 17))
}

install_debs() {
    local -a pkgs=()
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null || pkgs+=(redis-server)
    java_ok || pkgs+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || pkgs+=(maven)
    command -v prometheus >/dev/null && command -v promtool >/dev/null || pkgs+=(prometheus)
    if ((${#pkgs[@]} == 0)); then
        say "install: system packages present (redis-server, java 17+, maven, prometheus)"
        return 0
    fi
    local t0 log="$LOG_DIR/install-apt.log"; t0="$(now_ms)"
    say "install: apt-get install ${pkgs[*]} (log: $log)"
    {
        $SUDO apt-get update
        # The Debian redis-server package may start a system Redis on 6379; ours runs apart on $REDIS_PORT.
        # Likewise the prometheus package may start a system Prometheus on 9090; the tests start their own.
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${pkgs[@]}"
    } >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "apt-get install failed (log: $log)"; }
    say "install: system packages installed in $(elapsed_s "$t0") s"
}

resolve_kafka() {
    local want have=""
    want="$(sha256sum "$KAFKA_POM" | awk '{print $1}')"
    [[ -f "$KAFKA_STAMP" ]] && have="$(cat "$KAFKA_STAMP")"
    if [[ "$have" == "$want" ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
        say "install: kafka jars present ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
        return 0
    fi
    local t0 log="$LOG_DIR/install-maven.log" tmp="$KAFKA_LIBS.tmp.$$"
    t0="$(now_ms)"
    say "install: resolving Kafka jars with Maven (log: $log)"
    local -a mvn_args=(-B --no-transfer-progress -f "$KAFKA_POM"
        dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$tmp")
    [[ -n "${MAVEN_REPO_LOCAL:-}" ]] && mvn_args=("-Dmaven.repo.local=$MAVEN_REPO_LOCAL" "${mvn_args[@]}")
    rm -rf "$tmp"
    local attempt ok=0
    for attempt in 1 2 3; do
        if mvn "${mvn_args[@]}" >>"$log" 2>&1; then ok=1; break; fi
        say "install: maven attempt $attempt failed, retrying"
        sleep $((attempt * 5))
    done
    ((ok)) || { tail -n 30 "$log" >&2; rm -rf "$tmp"; die "maven could not resolve Kafka (log: $log)"; }
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "maven ran but no kafka_2.13 jar in $tmp"
    printf '%s\n' "$want" >"$tmp/.resolved"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    say "install: kafka jars resolved in $(elapsed_s "$t0") s ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
}

main() {
    install_debs
    resolve_kafka
}

with_lock main
