"""The ASGI application: routing, authentication and the single error handler."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from importlib import resources
from typing import Any

import msgspec
import yaml
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from . import idempotency
from .auth import CACHE_SECONDS, Authenticator
from .delivery import Deliverer, DeliveryConfig
from .endpoints import JSON, Call, user_routes
from .endpoints_events import add_event_routes
from .endpoints_webhooks import add_webhook_routes
from .errors import ApiError, FieldError, MethodNotAllowed, NotFound
from .metrics import Metrics
from .ratelimit import RateLimit, RateLimiter
from .routing import Handler
from .store import Store, open_store
from .store.base import KeyUse

log = logging.getLogger("channel_users")

DEFAULT_DATABASE = "sqlite:///channel-users.db"


def error_response(error: ApiError) -> Response:
    """The one place an error body is built."""
    return Response(error.body(), status_code=error.status, media_type=JSON, headers=error.headers)


@cache
def openapi_json() -> bytes:
    text = (resources.files("channel_users") / "openapi.yaml").read_text()
    return msgspec.json.encode(yaml.safe_load(text))


async def _respond(call: Call, handler: Handler, params: dict[str, str]) -> Response:
    """The handler's answer, an ApiError it raised included (so an Idempotency-Key records it)."""
    try:
        result = await handler(call, **params)
    except ApiError as error:
        return error_response(error)
    if isinstance(result, Response):
        return result
    return Response(msgspec.json.encode(result), media_type=JSON)


OPEN_V5 = "/open/v5/"
Endpoint = Callable[[Request], Awaitable[Response]]


class App(Starlette):
    """Starlette for the documentation and health routes; requests under `/open/v5/` go straight to
    `open_v5`, which answers every one of them (errors included), skipping the middleware stack and
    router that would cost them about a tenth of their time."""

    def __init__(self, open_v5: Endpoint, **options: Any) -> None:
        super().__init__(**options)
        self.open_v5 = open_v5

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(OPEN_V5):
            scope["app"] = self
            response = await self.open_v5(Request(scope, receive))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    store: Store,
    *,
    manage_store: bool = False,
    delivery: DeliveryConfig | None = None,
    rate_limit: RateLimit | None = None,
    key_cache_seconds: float = CACHE_SECONDS,
) -> App:
    """The app serving `store`. With `manage_store`, the app opens and closes the store itself; with
    `delivery`, it runs a webhook deliverer while it serves; with `rate_limit`, it limits each
    channel's requests. `key_cache_seconds` is how long a key pair's record is cached (a deleted key
    works that long)."""
    auth = Authenticator(store, key_cache_seconds)
    metrics = Metrics()
    limiter = RateLimiter(store, rate_limit) if rate_limit is not None else None
    router = user_routes()
    add_event_routes(router)
    add_webhook_routes(router)

    async def open_v5(request: Request) -> Response:
        started = time.perf_counter()
        limits: dict[str, str] = {}  # the x-ratelimit-* headers, on every authenticated answer
        pattern = "unknown"
        try:
            resolved = router.resolve(request.scope.get("raw_path", b"").decode("latin-1").split("?")[0])
            if resolved is None:
                raise NotFound(FieldError("no such endpoint", "path"))
            route, params = resolved
            pattern = "/".join(route.pattern)
            # HEAD is answered as GET; the server leaves the body out.
            method = "GET" if request.method == "HEAD" else request.method
            handler = route.handlers.get(method)
            if handler is None:
                allowed = ", ".join(route.handlers)
                raise MethodNotAllowed(headers={"allow": allowed})
            channel_id = await auth.channel_id(request)
            if limiter is not None:
                limits = await limiter.check(channel_id)
            if not idempotency.wanted(request):
                response = await _respond(Call(request, store, channel_id), handler, params)
            else:

                async def respond(use: KeyUse) -> Response:
                    return await _respond(Call(request, store, channel_id, use), handler, params)

                response = await idempotency.run(request, store, channel_id, respond)
        except ApiError as error:
            response = error_response(error)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            response = error_response(ApiError())
        response.headers.update(limits)
        metrics.observe(request.method, pattern, response.status_code, time.perf_counter() - started)
        return response

    async def openapi(request: Request) -> Response:
        return Response(openapi_json(), media_type=JSON)

    async def docs(request: Request) -> Response:
        return HTMLResponse((resources.files("channel_users") / "docs.html").read_text())

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def prometheus(request: Request) -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def readyz(request: Request) -> Response:
        if await store.ready():
            return Response(b'{"status":"ok"}', media_type=JSON)
        return Response(b'{"status":"unavailable"}', status_code=503, media_type=JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error = (
            NotFound(FieldError("no such endpoint", "path")) if exc.status_code == 404 else MethodNotAllowed()
        )
        return error_response(error)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_store:
            await store.open()
        deliverer = Deliverer(store, delivery) if delivery is not None else None
        try:
            if deliverer is not None:
                await deliverer.start()
            yield
        finally:
            if deliverer is not None:
                await deliverer.stop()
            if manage_store:
                await store.close()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    routes = [
        Route("/open/v5", open_v5, methods=methods),
        Route("/openapi.json", openapi),
        Route("/docs", docs),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", prometheus),
    ]
    return App(
        open_v5,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: http_error, 405: http_error},
    )


def app_from_environment() -> App:
    """Factory for server processes: the database comes from CHANNEL_USERS_DATABASE, the rate limit
    from CHANNEL_USERS_RATE_LIMIT (see ratelimit.py), webhook delivery settings from
    CHANNEL_USERS_WEBHOOK_* (see delivery.py)."""
    url = os.environ.get("CHANNEL_USERS_DATABASE", DEFAULT_DATABASE)
    cache = float(os.environ.get("CHANNEL_USERS_KEY_CACHE_SECONDS", CACHE_SECONDS))
    return create_app(
        open_store(url),
        manage_store=True,
        delivery=DeliveryConfig.from_environment(),
        rate_limit=RateLimit.parse(os.environ.get("CHANNEL_USERS_RATE_LIMIT", "")),
        key_cache_seconds=cache,
    )


__all__ = ["DEFAULT_DATABASE", "App", "app_from_environment", "create_app"]
