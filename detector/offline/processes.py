"""Stopping a child process that was started in its own session (``start_new_session=True``).

The benchmarks and the tests run workers that way: ``detector worker`` is a supervisor with a Faust
child, and both must be gone afterwards, even when the supervisor does not stop in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_group(proc: subprocess.Popen, *, grace_s: float = 45.0) -> None:  # type: ignore[type-arg]
    """SIGTERM the group leader (a supervisor passes it on to its child), wait up to ``grace_s``,
    then SIGKILL the whole process group and reap the leader. Idempotent."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
