"""Errors the gateway answers with a status code and Nautobot's JSON body."""

from __future__ import annotations

from typing import Any

from jobruntime.core.errors import JobRuntimeError


class ApiError(JobRuntimeError):
    """An answer other than success: ``status`` and the JSON ``body`` Nautobot's API gives for it."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def detail(status: int, message: str) -> ApiError:
    """The common ``{"detail": message}`` shape."""
    return ApiError(status, {"detail": message})


NOT_AUTHENTICATED = "Authentication credentials were not provided."
INVALID_TOKEN = "Invalid token"
NOT_FOUND = "Not found."
