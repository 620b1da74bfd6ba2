"""Running a live worker: ``run_worker(settings)`` (what ``detector worker`` calls).

:func:`run_worker` is a small supervisor: it creates the topics, then runs the Faust worker in a
child process (``python -m streams.worker --child``) and restarts it, with backoff, whenever it
exits abnormally: the agents exit on purpose on an unexpected error so the batch is redelivered
rather than acked, and Faust/aiokafka occasionally wedge after a broker restart. SIGTERM/SIGINT are
passed on to the child (graceful Faust shutdown), then the supervisor exits. The child dies with
the supervisor (``PR_SET_PDEATHSIG``), so killing the supervisor never leaves an orphan. Each new
child is told how many restarts came before it and the previous exit code, and exports them on
``/metrics`` (``xd_worker_restarts_total``, ``xd_worker_last_exit_code``; alert
``DetectorWorkerRestarting`` in ``deploy/prometheus/rules.yml``).

Run several workers with the same ``DETECTOR_GROUP_ID`` to scale out (Kafka assigns partitions).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from streams.metrics import LAST_EXIT_ENV, RESTARTS_ENV, MetricsPortInUse, check_port_free
from streams.settings import Settings

log = logging.getLogger("streams.worker")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def run_worker(settings: Settings | None = None, *, restart: bool = True, max_backoff_s: float = 30.0) -> None:
    """Run a supervised worker until SIGTERM/SIGINT (or, with ``restart=False``, until it exits).

    Connection settings come from ``settings`` (default: :meth:`Settings.from_env`); the deciding
    knobs from :meth:`detector.config.Config.from_env` in the child. Before anything else, one
    ``PING`` checks the Redis login: a refused password or ACL raises
    :class:`streams.redis_conn.RedisAccessError` at once (an unreachable Redis is only logged: the
    worker waits for it). Topic creation then checks the Kafka login and TLS setup
    (:mod:`streams.kafka_security`): a refusal, or ACLs denying a missing topic, raise
    :class:`streams.kafka_security.KafkaSecurityError` at once; so does a Faust child that exits with
    :data:`streams.kafka_security.SECURITY_EXIT_CODE` (78, it logged what Kafka refused) -- it is not
    restarted. A metrics port that another process holds raises :class:`streams.metrics.MetricsPortInUse`
    before each start (a child could only fail on it, again and again).
    """
    settings = settings or Settings.from_env()
    if settings.metrics_port:
        check_port_free(settings.metrics_host, settings.metrics_port)
    from streams.kafka_security import SECURITY_EXIT_CODE, KafkaSecurityError, redact_settings_secrets

    redact_settings_secrets(settings)   # the Kafka password never reaches a log line, whoever logs
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    from streams.redis_conn import RedisUnreachable, check_redis_sync
    from streams.topics import ensure_topics

    try:
        check_redis_sync(settings)
    except RedisUnreachable as exc:
        log.warning("%s; the worker will wait for it", exc)
    ensure_topics(settings)
    env = dict(os.environ, **settings.to_env(), **settings.secret_env())
    # The worker runs its agents on one thread and makes no large BLAS calls; numpy's OpenBLAS
    # threads would otherwise spin on the cores the agents need (measured: bench stream 15.6-17.0k
    # -> 17.8-18.2k records/s). An operator's own setting wins.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    backoff = 1.0
    restarts, last_rc = 0, 0
    while not stopping:
        if settings.metrics_port and restarts:
            check_port_free(settings.metrics_host, settings.metrics_port)
        started = time.monotonic()
        # the child exports these as xd_worker_restarts_total / xd_worker_last_exit_code
        env[RESTARTS_ENV], env[LAST_EXIT_ENV] = str(restarts), str(last_rc)
        child = subprocess.Popen([sys.executable, "-m", "streams.worker", "--child"], env=env,
                                 preexec_fn=_die_with_parent)  # noqa: PLW1509 - only prctl, no locks
        log.info("worker child started (pid %d)", child.pid)
        while True:
            try:
                rc = child.wait(timeout=30.0 if stopping else None)
                break
            except subprocess.TimeoutExpired:
                child.kill()
        if stopping or not restart:
            log.info("worker child exited (%s)", rc)
            return
        if rc == SECURITY_EXIT_CODE:   # the child logged what Kafka refused; restarting cannot fix it
            raise KafkaSecurityError(f"worker child exited with {rc}: Kafka refused its credentials or TLS setup "
                                     f"(see the log above); not restarting")
        if time.monotonic() - started > 120:
            backoff = 1.0
        log.warning("worker child exited with %s; restarting in %.0fs", rc, backoff)
        restarts, last_rc = restarts + 1, rc
        deadline = time.monotonic() + backoff
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.2)
        backoff = min(backoff * 2, max_backoff_s)


def _run_child() -> None:
    """The Faust worker itself (one process, all three agents)."""
    import faust

    from streams.app import create_app

    from streams.metrics import carry_restarts

    carry_restarts(os.environ)
    settings = Settings.from_env()
    from streams import kafka_security

    kafka_security.redact_settings_secrets(settings)
    try:
        kafka_security.check(settings)   # fail fast and say why, before Faust retries in a loop
    except kafka_security.KafkaSecurityError as exc:
        logging.basicConfig(level=logging.INFO)
        log.error("%s", exc)
        sys.exit(kafka_security.SECURITY_EXIT_CODE)
    except kafka_security.KafkaUnreachableError as exc:   # Faust waits for the broker, as without TLS/SASL
        log.warning("%s", exc)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        _run_child()
    else:
        from streams.kafka_security import SECURITY_EXIT_CODE, KafkaSecurityError

        try:
            run_worker()
        except (KafkaSecurityError, MetricsPortInUse) as exc:   # one clear line, no traceback
            log.error("%s", exc)
            sys.exit(SECURITY_EXIT_CODE)
