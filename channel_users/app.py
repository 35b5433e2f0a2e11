"""The ASGI application: routing, authentication and the single error handler."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
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

from .auth import Authenticator
from .endpoints import JSON, Call, user_routes
from .errors import ApiError, MethodNotAllowed, NotFound
from .store import Store, open_store

log = logging.getLogger("channel_users")

DEFAULT_DATABASE = "sqlite:///channel-users.db"


def error_response(error: ApiError) -> Response:
    """The one place an error body is built."""
    return Response(error.body(), status_code=error.status, media_type=JSON, headers=error.headers)


@cache
def openapi_json() -> bytes:
    text = (resources.files("channel_users") / "openapi.yaml").read_text()
    return msgspec.json.encode(yaml.safe_load(text))


def create_app(store: Store, *, manage_store: bool = False) -> Starlette:
    """The app serving `store`. With `manage_store`, the app opens and closes the store itself."""
    auth = Authenticator(store)
    router = user_routes()

    async def open_v5(request: Request) -> Response:
        try:
            resolved = router.resolve(
                request.scope.get("raw_path", b"").decode("latin-1").split("?")[0]
            )
            if resolved is None:
                raise NotFound("no such endpoint")
            route, params = resolved
            handler = route.handlers.get(request.method)
            if handler is None:
                allowed = ", ".join(route.handlers)
                raise MethodNotAllowed(headers={"allow": allowed})
            call = Call(request, store, await auth.channel_id(request))
            result = await handler(call, **params)
            if isinstance(result, Response):
                return result
            return Response(msgspec.json.encode(result), media_type=JSON)
        except ApiError as error:
            return error_response(error)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return error_response(ApiError())

    async def openapi(request: Request) -> Response:
        return Response(openapi_json(), media_type=JSON)

    async def docs(request: Request) -> Response:
        return HTMLResponse((resources.files("channel_users") / "docs.html").read_text())

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error = NotFound("no such endpoint") if exc.status_code == 404 else MethodNotAllowed()
        return error_response(error)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_store:
            await store.open()
        try:
            yield
        finally:
            if manage_store:
                await store.close()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    routes = [
        Route("/open/v5/{rest:path}", open_v5, methods=methods),
        Route("/openapi.json", openapi),
        Route("/docs", docs),
        Route("/healthz", healthz),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: http_error, 405: http_error},
    )


def app_from_environment() -> Starlette:
    """Factory for server processes: the database comes from CHANNEL_USERS_DATABASE."""
    url = os.environ.get("CHANNEL_USERS_DATABASE", DEFAULT_DATABASE)
    return create_app(open_store(url), manage_store=True)


__all__ = ["DEFAULT_DATABASE", "Any", "app_from_environment", "create_app"]
