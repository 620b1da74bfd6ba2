"""``listen_port`` picks loopback ports that outgoing connections are never given."""

from __future__ import annotations

import doctest
import socket

import pytest

from detector.offline import ports


def test_ports_are_outside_the_ephemeral_range_and_bind() -> None:
    low, high = ports.ephemeral_range()
    assert low <= high
    picked = {ports.listen_port() for _ in range(40)}
    assert len(picked) > 30   # drawn at random, not one fixed port
    for port in picked:
        assert ports.LOWEST <= port < low or high < port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", picked.pop()))


def test_an_unreadable_range_file_falls_back_to_linux_defaults(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ports, "RANGE_FILE", tmp_path / "missing")
    assert ports.ephemeral_range() == (32768, 60999)
    (tmp_path / "bad").write_text("not numbers\n")
    monkeypatch.setattr(ports, "RANGE_FILE", tmp_path / "bad")
    assert ports.ephemeral_range() == (32768, 60999)


def test_no_room_outside_the_range_is_an_error(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "range").write_text("1024\t65535\n")
    monkeypatch.setattr(ports, "RANGE_FILE", tmp_path / "range")
    with pytest.raises(RuntimeError, match="ephemeral range 1024-65535"):
        ports.listen_port()


def test_doctest() -> None:
    assert doctest.testmod(ports).failed == 0
