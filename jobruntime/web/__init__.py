"""The HTTP gateway: Nautobot 1.x's REST contract for jobs, results and their live logs.

Stateless: it validates a run request as a worker would, records it pending,
publishes it on the bus and reads results from the database and events from
the bus; it never runs a job. ``jobruntime serve`` serves it with uvicorn;
any ASGI server can serve ``jobruntime.web:app`` (built from the environment's
settings on first use).

A face, like ``cli``: it may import every layer below it, and nothing imports it
but ``cli``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from jobruntime.web.app import create_app

        return create_app
    if name == "app":
        from jobruntime.web.app import create_app

        globals()["app"] = application = create_app()
        return application
    raise AttributeError(f"module 'jobruntime.web' has no attribute {name!r}")
