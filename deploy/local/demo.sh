#!/usr/bin/env bash
# `make demo`: the main job, live. Starts local Kafka + Redis (if not up), one detector worker,
# feeds simulated traffic (every campaign mixed into benign background) through `gateway-logs` in
# 100-record messages, and prints alerts as they arrive. Ctrl-C stops it; services stay up
# (`make down` stops them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
OUT="${OUT:-out}/demo-live"
HOURS="${DEMO_HOURS:-6}"
SCALE="${DEMO_SCALE:-0.1}"
CORPORA="${CORPORA:-../shared/corpora}"

bash deploy/local/up.sh
# shellcheck source=/dev/null
source deploy/local/env.sh
RUN="demo$(date +%s)"
export DETECTOR_TOPIC_PREFIX="$RUN."            # fresh topics every run
export DETECTOR_GROUP_ID="xd-$RUN"
export DETECTOR_REDIS_URL="${DETECTOR_REDIS_URL%/*}/9"   # a Redis DB of the demo's own
"$ROOT/.venv/bin/python" -c "import redis, os; redis.Redis.from_url(os.environ['DETECTOR_REDIS_URL']).flushdb()"

mkdir -p "$OUT"
echo "== simulating ${HOURS} h of traffic (scale ${SCALE}) into $OUT"
"$BIN/detector" simulate --out "$OUT" --seed 1 --scenario all --hours "$HOURS" --scale "$SCALE" --corpora "$CORPORA"

# the contract allow-list (the simulated synthetic-data customer) goes to the worker's config
DETECTOR_ALLOWLIST_ACCOUNTS="$("$BIN/python" -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["accounts"]))' "$OUT/allowlist.json")"
export DETECTOR_ALLOWLIST_ACCOUNTS

echo "== starting a worker (log: $OUT/worker.log)"
"$BIN/detector" worker >"$OUT/worker.log" 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true; wait $WORKER 2>/dev/null || true' EXIT

echo "== feeding $OUT/events.jsonl.gz to ${DETECTOR_TOPIC_PREFIX}gateway-logs"
"$BIN/python" -m detector.offline.feed "$OUT/events.jsonl.gz" --records-per-message 100

echo "== alerts as they arrive (stops after 60 s without a new one)"
"$BIN/detector" watch --from-beginning --idle 60

echo "== the same file through replay gives the same alerts:"
echo "   $BIN/detector replay $OUT/events.jsonl.gz --allowlist $OUT/allowlist.json --report $OUT/report"
