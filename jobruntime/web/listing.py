"""Query-string handling shared by the list endpoints: pagination and boolean filters, as Nautobot reads them."""

from __future__ import annotations

from starlette.requests import Request

from jobruntime.web.errors import ApiError

DEFAULT_PAGE = 50  # Nautobot's PAGINATE_COUNT
MAX_PAGE = 1000  # Nautobot's MAX_PAGE_SIZE; limit=0 asks for it
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def pagination(request: Request) -> tuple[int, int]:
    """``(limit, offset)`` from the query string; a bad value is a 400 naming it."""
    limit = _count(request, "limit", DEFAULT_PAGE)
    return (MAX_PAGE if limit == 0 else min(limit, MAX_PAGE)), _count(request, "offset", 0)


def _count(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit():
        raise ApiError(400, {name: ["A valid integer is required."]})
    return int(raw)


def flag(request: Request, name: str) -> bool | None:
    """A boolean filter: None when absent; a value Nautobot would not read is a 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ApiError(400, {name: [f"Select a valid choice. {raw} is not one of the available choices."]})


def base_url(request: Request) -> str:
    """Scheme and host as the client reached us, for the ``url`` fields of bodies."""
    return str(request.base_url).rstrip("/")
