"""Who is signed in, and the CSRF token every form of the web interface carries."""

from __future__ import annotations

import logging
import secrets

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from jobruntime.core.errors import JobRuntimeError
from jobruntime.core.settings import Settings
from jobruntime.web.errors import ApiError
from jobruntime.web.gateway import Caller, Gateway

log = logging.getLogger(__name__)
CSRF_FIELD = "csrf_token"


class SignInRequired(JobRuntimeError):
    """A page needs a signed-in user; the browser is sent to the sign-in page and back."""

    def __init__(self, path: str) -> None:
        super().__init__(f"Sign in to see {path}")
        self.path = path


class CsrfRefused(JobRuntimeError):
    """A form came back without this session's CSRF token: possibly another site posting on the user's behalf."""


def session_middleware(settings: Settings) -> Middleware:
    """Signed session cookies (HttpOnly, SameSite=Lax); the key from JOBRUNTIME_WEB_SECRET or made now."""
    secret = settings.web_secret
    if not secret:
        log.warning("JOBRUNTIME_WEB_SECRET is not set: sign-ins last only as long as this gateway process "
                    "and are not shared with other gateway processes")
        secret = secrets.token_urlsafe(32)
    return Middleware(SessionMiddleware, secret_key=secret, session_cookie="jobruntime_session",
                      same_site="lax", https_only=False)


def signed_in(request: Request) -> Caller:
    """The signed-in caller, checked against the database on each request (a revoked token signs out)."""
    key = request.session.get("token")
    if not key:
        raise SignInRequired(request.url.path)
    gw: Gateway = request.app.state.gateway
    try:
        return gw.authenticate(f"Token {key}")
    except ApiError:
        request.session.clear()
        raise SignInRequired(request.url.path) from None


def sign_in(request: Request, caller: Caller) -> None:
    request.session.clear()
    request.session.update({"token": caller.token, "username": caller.user.username,
                            "csrf": secrets.token_urlsafe(32)})


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use (the sign-in form needs one before anyone signs in)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, submitted: object) -> None:
    expected = request.session.get("csrf")
    if not expected or not isinstance(submitted, str) or not secrets.compare_digest(expected, submitted):
        raise CsrfRefused("This form has expired or did not come from this site; reload the page and try again.")


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another host."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/jobs/"
    return path
