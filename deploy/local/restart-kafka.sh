#!/usr/bin/env bash
# Stop and start the local Kafka (fault tests). Same as: ctl.sh restart kafka
set -euo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ctl.sh" restart kafka
