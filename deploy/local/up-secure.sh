#!/usr/bin/env bash
# Start the opt-in SASL_SSL broker (deploy/local/secure.sh): fresh CA, certificates, users and data on
# 127.0.0.1:$KAFKA_SASL_PORT (default 19094), beside (never instead of) the shared PLAINTEXT broker.
# Idempotent: a healthy one is left as is. Prints the DETECTOR_* settings of $KAFKA_SECURE_USER (default
# admin, a super user) on stdout, e.g.:   eval "$(bash deploy/local/up-secure.sh | sed 's/^/export /')"
#   KAFKA_SECURE_HOME   where it lives (default .cache/local/kafka-secure); the tests use a temp dir
#   KAFKA_SASL_PORT, KAFKA_SECURE_CONTROLLER_PORT, KAFKA_SECURE_USERS, KAFKA_SECURE_CLIENT_AUTH,
#   KAFKA_SECURE_AUTHORIZER (1: StandardAuthorizer, deny without ACL)
set -euo pipefail
# shellcheck source=secure.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secure.sh"

secure_with_lock secure_start
secure_settings "$KAFKA_SECURE_USER"
