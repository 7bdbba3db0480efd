"""The gateway's ASGI application: routes, the headers every answer carries, and errors as JSON."""

from __future__ import annotations

import contextlib
import json
import platform
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import version
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobruntime.core.settings import Settings
from jobruntime.run.runtime import Runtime
from jobruntime.web import hooks_api, jobs_api, openapi, results_api, run_api, schedules_api, stream
from jobruntime.web.bodies import API_VERSION
from jobruntime.web.errors import ApiError
from jobruntime.web.gateway import Gateway
from jobruntime.web.listing import base_url
from jobruntime.web.ui import pages
from jobruntime.web.ui.render import STATIC_DIRECTORY
from jobruntime.web.ui.session import CsrfRefused, SignInRequired, session_middleware


class ApiVersionHeader:
    """Every answer names the REST API version, as Nautobot's do (clients read it on connect)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"api-version", API_VERSION.encode()))
            await send(message)

        await self.app(scope, receive, with_header)


async def api_error(request: Request, exc: Exception) -> Response:
    """Nautobot's JSON body under ``/api/``; a page saying the same for a person elsewhere."""
    assert isinstance(exc, ApiError)
    if not request.url.path.startswith("/api/"):
        return pages.refused(request, exc)
    return JSONResponse(exc.body, status_code=exc.status)


def api_root(request: Request) -> Response:
    base = base_url(request)
    return JSONResponse({app: f"{base}/api/{app}/" for app in ("dcim", "extras", "ipam", "tenancy", "users")})


def api_status(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    gw.authenticate(request.headers.get("authorization"))
    return JSONResponse({
        "jobruntime-version": version("jobruntime"), "nautobot-version": "1.6.0", "python-version":
        platform.python_version(), "database": gw.runtime.engine.dialect.name, "plugins": {},
    })


async def http_error(request: Request, exc: Exception) -> Response:
    """An unknown path or method under ``/api/`` answers in JSON, with Django REST framework's texts."""
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith("/api/") or exc.status_code not in (404, 405):
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    message = "Not found." if exc.status_code == 404 else f'Method "{request.method}" not allowed.'
    return JSONResponse({"detail": message}, status_code=exc.status_code, headers=exc.headers)


def _json_body(handler: Callable[[Request, Any], Response]) -> Callable[[Request], Awaitable[Response]]:
    """Give a handler the request's JSON body (a 400 when it is not JSON)."""

    async def endpoint(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, {"detail": f"JSON parse error - {exc}"}) from None
        return handler(request, body)

    return endpoint


def routes() -> list[Route]:
    return [
        Route("/api/", api_root),
        Route("/api/status/", api_status),
        Route("/api/docs/", openapi.document),
        Route("/api/extras/jobs/", jobs_api.list_jobs),
        Route("/api/extras/jobs/{key}/", jobs_api.get_job),
        Route("/api/extras/jobs/{key}/", _json_body(jobs_api.patch_job), methods=["PATCH"]),
        Route("/api/extras/jobs/{key}/variables/", jobs_api.job_variables),
        Route("/api/extras/jobs/{key}/run/", run_api.run_job, methods=["POST"]),
        Route("/api/extras/jobs/{class_path:path}/run/", run_api.run_job_by_class_path, methods=["POST"]),
        Route("/api/extras/job-results/", results_api.list_results),
        Route("/api/extras/job-results/{key}/", results_api.get_result),
        Route("/api/extras/job-results/{key}/", results_api.delete_result, methods=["DELETE"]),
        Route("/api/extras/job-results/{key}/logs/", results_api.result_logs),
        Route("/api/extras/job-results/{key}/stream/", stream.stream_result),
        Route("/api/extras/job-logs/", results_api.list_logs),
        Route("/api/extras/scheduled-jobs/", schedules_api.list_schedules),
        Route("/api/extras/scheduled-jobs/{key}/", schedules_api.get_schedule),
        Route("/api/extras/scheduled-jobs/{key}/approve/", schedules_api.approve_schedule, methods=["POST"]),
        Route("/api/extras/scheduled-jobs/{key}/deny/", schedules_api.deny_schedule, methods=["POST"]),
        Route("/api/extras/scheduled-jobs/{key}/dry-run/", schedules_api.dry_run_schedule, methods=["POST"]),
        Route("/api/extras/job-hooks/", hooks_api.list_hooks),
        Route("/api/extras/job-hooks/", _json_body(hooks_api.create_hook), methods=["POST"]),
        Route("/api/extras/job-hooks/{key}/", hooks_api.get_hook),
        Route("/api/extras/job-hooks/{key}/", _json_body(hooks_api.patch_hook), methods=["PATCH"]),
        Route("/api/extras/job-hooks/{key}/", hooks_api.delete_hook, methods=["DELETE"]),
        *web_pages(),
    ]


def web_pages() -> list[Route | Mount]:
    """The web interface for people, beside the API in the same process."""
    return [
        Route("/", pages.home),
        Route("/login/", pages.login, methods=["GET", "POST"]),
        Route("/logout/", pages.logout, methods=["POST"]),
        Route("/jobs/", pages.jobs),
        Route("/jobs/{key}/", pages.job, methods=["GET", "POST"]),
        Route("/jobs/{key}/edit/", pages.job_edit, methods=["GET", "POST"]),
        Route("/jobs/{key}/objects/{variable}/", pages.job_objects),
        Route("/results/", pages.results),
        Route("/results/{key}/", pages.result),
        Route("/schedules/", pages.schedules),
        Route("/approvals/", pages.approvals),
        Route("/approvals/{key}/{action}/", pages.approval_action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIRECTORY), name="static"),
    ]


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Starlette:
    """The gateway for ``settings`` (from the environment when None); one publisher and engine per app."""
    settings = settings or Settings()
    gateway = Gateway(settings, runtime)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        gateway.close()

    app = Starlette(routes=routes(), middleware=[Middleware(ApiVersionHeader), session_middleware(settings)],
                    exception_handlers={ApiError: api_error, HTTPException: http_error,
                                        SignInRequired: pages.sign_in_redirect, CsrfRefused: pages.csrf_refused},
                    lifespan=lifespan)
    app.state.gateway = gateway
    return app
