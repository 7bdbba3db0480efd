"""Worker middleware: pieces named in JOBRUNTIME_MIDDLEWARE wrap every run a worker makes, in order."""

from __future__ import annotations

import json

import pytest

from jobruntime.core.settings import DEFAULT_MIDDLEWARE, InvalidSetting, Settings
from jobruntime.run.runtime import Runtime
from jobruntime.worker.leases import KeepLease
from jobruntime.worker.middleware import FlushLog, RunMiddleware, WorkerResources, build_middleware, middleware_classes
from jobruntime.worker.supervisor import WorkerProcess, load_handler
from jobruntime.worker.timelimits import HardLimit, RunSlot
from tests.cli_support import invoker
from tests.middleware_support import SEEN
from tests.test_cli import BRANCH
from tests.test_embedded_bus import embedded  # noqa: F401 - the fixture


def test_the_default_middleware_is_lease_renewal_log_flushing_and_the_hard_limit():
    assert middleware_classes(Settings().middleware) == [KeepLease, FlushLog, HardLimit]
    assert list(DEFAULT_MIDDLEWARE) == Settings().middleware


def test_every_default_piece_meets_the_protocol():
    assert all(issubclass(cls, RunMiddleware) for cls in middleware_classes(DEFAULT_MIDDLEWARE))


def test_the_hard_limit_declines_a_worker_without_a_supervisor(tmp_path):
    settings = Settings(home=tmp_path)
    runtime = Runtime.from_settings(settings)
    classes = middleware_classes(settings.middleware)
    alone = build_middleware(classes, WorkerResources(settings, runtime))
    supervised = build_middleware(classes, WorkerResources(settings, runtime, RunSlot()))
    assert [type(piece) for piece in alone] == [KeepLease, FlushLog]
    assert [type(piece) for piece in supervised] == [KeepLease, FlushLog, HardLimit]


def test_middleware_is_read_from_the_environment_as_a_json_list(monkeypatch):
    monkeypatch.setenv("JOBRUNTIME_MIDDLEWARE", '["tests.middleware_support.Recording"]')
    assert Settings().middleware == ["tests.middleware_support.Recording"]


@pytest.mark.parametrize(("names", "problem"), [
    ('["Recording"]', "expected dotted class names"),
    ('["tests.middleware_support.Missing"]', "cannot import tests.middleware_support.Missing"),
    ('["tests.nowhere.Recording"]', "cannot import tests.nowhere.Recording"),
    ('["tests.middleware_support.SEEN"]', "tests.middleware_support.SEEN is not a middleware class"),
])
def test_a_bad_middleware_name_stops_the_worker_before_it_consumes(monkeypatch, tmp_path, names, problem):
    monkeypatch.setenv("JOBRUNTIME_MIDDLEWARE", names)
    with pytest.raises(InvalidSetting, match=f"JOBRUNTIME_MIDDLEWARE: {problem}"):
        WorkerProcess(Settings(home=tmp_path), ["default"], load_handler())


def test_configured_middleware_wraps_each_bus_run_in_order(embedded):
    pieces = ["tests.middleware_support.Recording", "tests.middleware_support.Declining", "tests.middleware_support.Second"]
    invoke = invoker({**embedded.env, "JOBRUNTIME_MIDDLEWARE": json.dumps([*DEFAULT_MIDDLEWARE, *pieces])})
    SEEN.clear()
    result = invoke("runjob", "-u", "admin", "--commit", "--data", json.dumps(BRANCH), "local/new_branch/NewBranch")
    assert "local/new_branch/NewBranch: SUCCESS" in result.output
    job = "local/new_branch/NewBranch"
    assert SEEN == [("enter", "Recording", job), ("enter", "Second", job),
                    ("leave", "Second", job), ("leave", "Recording", job)]
