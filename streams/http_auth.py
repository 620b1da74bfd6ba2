"""Bearer-token check shared by every HTTP endpoint of the detector (worker, notifier, enforcer),
and the small ``/metrics`` (+ ``/healthz``) server of the worker and the notifier.

What: :func:`bearer_middleware` returns an aiohttp middleware that answers 401 (with
``WWW-Authenticate: Bearer``) to any request whose ``Authorization`` header is not exactly
``Bearer <token>`` — missing, another scheme or a wrong token alike — when a token is configured
(``DETECTOR_HTTP_TOKEN_FILE``, :class:`streams.settings.Settings`). Without a token it lets
everything through and the endpoints behave as before. Paths in ``open_paths`` (``/healthz``)
are served to everyone, because Kubernetes probes cannot send a token read from a Secret; the
middleware marks the request (:func:`authorized`) so such a handler can leave its detail out for
a caller without the token (status code and ``status`` only).

The comparison hashes both sides with SHA-256 and compares the digests with
:func:`hmac.compare_digest`: constant time whatever the token's length or the first differing
byte. Neither the expected nor the presented token is ever logged or echoed.

:func:`start_metrics_server` serves the default Prometheus registry (this module defines no
metric, so each process exports only its own) and, given a ``health`` callable, ``/healthz``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AUTHORIZED = web.RequestKey("xd_authorized", bool) if hasattr(web, "RequestKey") else "xd_authorized"
OPEN_PATHS: frozenset[str] = frozenset({"/healthz"})


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def token_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header value carries ``token`` as a bearer token."""
    if not token or header is None:
        return False
    scheme, _, presented = header.strip().partition(" ")
    ok_scheme = scheme.lower() == "bearer"
    same = hmac.compare_digest(_digest(presented.strip().encode("utf-8", "surrogateescape")),
                               _digest(token.encode("utf-8")))
    return ok_scheme and same


def authorized(request: web.Request) -> bool:
    """Whether this request presented the configured token (always true when none is configured)."""
    return bool(request.get(AUTHORIZED, True))  # type: ignore[call-overload]


def unauthorized() -> web.Response:
    return web.json_response({"error": "unauthorized"}, status=401,
                             headers={"WWW-Authenticate": 'Bearer realm="extraction-detector"'})


def bearer_middleware(token: str,
                      open_paths: Iterable[str] = OPEN_PATHS) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The aiohttp middleware enforcing ``token`` (a no-op pass-through when ``token`` is empty)."""
    open_set = frozenset(open_paths)

    @web.middleware
    async def check_bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not token:
            return await handler(request)
        ok = token_matches(request.headers.get("Authorization"), token)
        request[AUTHORIZED] = ok  # type: ignore[index]
        if ok or request.path in open_set:
            return await handler(request)
        return unauthorized()

    return check_bearer


async def start_metrics_server(host: str, port: int, *, token: str = "",
                               health: Callable[[], tuple[bool, object]] | None = None) -> web.AppRunner:
    """Serve ``/metrics`` (and ``/healthz`` when ``health`` is given) on ``host:port`` with aiohttp.

    ``health()`` returns (ok, detail): 200 or 503 with ``{"status", "detail"}``; ``detail`` only
    for a caller with the token when one is configured. Returns the runner (``runner.addresses``
    has the bound port, ``await runner.cleanup()`` stops it).
    """

    async def metrics_view(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health_view(request: web.Request) -> web.Response:
        ok, detail = health()  # type: ignore[misc]
        body: dict[str, object] = {"status": "ok" if ok else "unhealthy"}
        if authorized(request):
            body["detail"] = detail
        return web.json_response(body, status=200 if ok else 503)

    app = web.Application(middlewares=[bearer_middleware(token)])
    app.router.add_get("/metrics", metrics_view)
    if health is not None:
        app.router.add_get("/healthz", health_view)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
