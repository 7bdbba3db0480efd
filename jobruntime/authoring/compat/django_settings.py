"""What ``django.conf`` provides: ``settings``, with the few settings Nautobot job code reads.

The values come from jobruntime's own Settings, which the Runtime binds here
when it is built (:func:`bind`), so a job sees the queue, directories and
plugin configuration of the process that runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobruntime.core.errors import SetupError
from jobruntime.core.settings import Settings


class SettingsNotBound(SetupError, RuntimeError):
    """Job code read ``django.conf.settings`` in a process that built no Runtime yet."""


class NautobotSettings:
    """``django.conf.settings`` for job code: read-only, and only the names listed in ``NAMES``."""

    NAMES = ("CELERY_TASK_DEFAULT_QUEUE", "JOBS_ROOT", "MEDIA_ROOT", "PLUGINS_CONFIG", "TIME_ZONE")

    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None

    def bind(self, settings: Settings) -> None:
        self._values = {
            "CELERY_TASK_DEFAULT_QUEUE": settings.default_queue,
            "JOBS_ROOT": str(settings.jobs_root),
            "MEDIA_ROOT": str(Path(settings.home) / "media"),
            "PLUGINS_CONFIG": settings.plugins_config,
            "TIME_ZONE": "UTC",
        }

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._values is None:
            raise SettingsNotBound(
                f"settings.{name} was read before jobruntime loaded its settings; "
                "read settings inside run(), or build a Runtime first"
            )
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(
                f"settings has no {name!r}: jobruntime provides {', '.join(self.NAMES)} "
                "(set per-plugin values with JOBRUNTIME_PLUGINS_CONFIG)"
            ) from None


settings = NautobotSettings()


def bind(runtime_settings: Settings) -> None:
    """Make ``django.conf.settings`` answer from ``runtime_settings`` (the Runtime calls this once)."""
    settings.bind(runtime_settings)


__all__ = ["settings"]
