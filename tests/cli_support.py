"""Running the command line in-process for tests, with a given environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result

from jobruntime.cli import main

REPO = Path(__file__).parent.parent


def invoker(env: dict[str, str]) -> Callable[..., Result]:
    """``invoke(*args, code=0)`` runs ``jobruntime ARGS`` and checks its exit code (``code=None``: any)."""
    runner = CliRunner()

    def invoke(*args: str, code: int | None = 0) -> Result:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, result.output
        return result

    invoke.env = env
    return invoke


def database_env(db_url: str, home: Path) -> dict[str, str]:
    return {"JOBRUNTIME_DATABASE_URL": db_url, "JOBRUNTIME_JOBS_ROOT": str(REPO / "jobs"), "JOBRUNTIME_HOME": str(home)}
