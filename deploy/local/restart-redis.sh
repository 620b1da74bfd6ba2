#!/usr/bin/env bash
# Stop and start the local Redis (fault tests); data survives through the AOF. Same as: ctl.sh restart redis
set -euo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ctl.sh" restart redis
