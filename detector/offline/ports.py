"""A loopback TCP port for a server a benchmark or test is about to start.

The usual trick, binding port 0 and closing the socket, hands back a port from the kernel's
ephemeral range, the same range the kernel draws source ports from for outgoing connections. A
worker opens dozens of those (Kafka, Redis) before its HTTP server binds, so now and then one of them
takes the port first and the server fails with ``EADDRINUSE``. A port below the ephemeral range is
never given to an outgoing connection; this picks one at random there and checks that it binds.

Assumes Linux's ``/proc/sys/net/ipv4/ip_local_port_range`` (Linux's default range is assumed when
it cannot be read). Another process that picks the same port between the check and the server's
bind still wins; the random choice over about 12,000 ports makes that rare.

>>> port = listen_port()
>>> 20000 <= port < 65536
True
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20000   # below: the fixed ports of the local services (Kafka 19092, Redis 16379, ...)
RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' source ports (Linux's default if unreadable)."""
    try:
        low, high = (int(v) for v in RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def listen_port(host: str = "127.0.0.1", tries: int = 50) -> int:
    """A port on ``host`` that binds now and that no outgoing connection will be given."""
    low, high = ephemeral_range()
    spans = [(LOWEST, low), (high + 1, 65536)]
    spans = [(a, b) for a, b in spans if b - a > 100]
    if not spans:
        raise RuntimeError(f"no port outside the ephemeral range {low}-{high} above {LOWEST}")
    rng = random.SystemRandom()
    for _ in range(tries):
        a, b = rng.choice(spans)
        port = rng.randrange(a, b)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port on {host} outside the ephemeral range after {tries} tries")
