"""A worker whose metrics port another process holds stops at once with the reason, not in a restart loop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from streams.metrics import MetricsPortInUse, check_port_free


def test_a_free_port_passes_a_listening_one_is_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.listen()
        with pytest.raises(MetricsPortInUse, match=f"127.0.0.1:{port} is in use"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)          # released: free again


def test_the_worker_command_exits_with_the_reason_before_touching_services() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        # Kafka and Redis point at closed loopback ports: reaching them would hang or retry
        env = dict(os.environ, DETECTOR_METRICS_PORT=str(port), DETECTOR_KAFKA_BOOTSTRAP="127.0.0.1:9",
                   DETECTOR_REDIS_URL="redis://127.0.0.1:9/0")
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "detector.cli", "worker"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert f"127.0.0.1:{port} is in use" in out.stderr and "Traceback" not in out.stderr
    assert "worker child started" not in out.stderr
    assert time.monotonic() - t0 < 30
