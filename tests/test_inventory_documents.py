"""`inventory export` and `inventory apply`: a document round-trips, edits update, every change is logged as cli."""

from __future__ import annotations

import json

import pytest
import yaml
from sqlalchemy import select

from jobruntime.models import Device, ObjectChange
from jobruntime.testing import ensure_user, run_job_for_testing
from tests.cli_support import invoker
from tests.conftest import JOB_MODULES
from tests.job_modules import change_jobs


@pytest.fixture
def cli(runtime, db_url, tmp_path):
    run_job_for_testing(change_jobs.CreateDevices, runtime=runtime)
    ensure_user(runtime, "carol")
    return invoker({"JOBRUNTIME_DATABASE_URL": db_url, "JOBRUNTIME_JOBS_ROOT": str(JOB_MODULES),
                    "JOBRUNTIME_HOME": str(tmp_path)})


def change_count(runtime) -> int:
    with runtime.session() as session:
        return len(session.scalars(select(ObjectChange.id)).all())


def test_an_export_refers_to_objects_by_natural_key(cli):
    document = yaml.safe_load(cli("inventory", "export", "--model", "dcim.device").output)
    first = document["dcim.device"][0]
    assert first["name"] == "sw0" and first["site"] == {"name": "HQ"} and first["status"] == {"name": "Active"}
    assert first["device_type"] == {"manufacturer": {"name": "Acme"}, "model": "Switch"}
    assert "id" not in first and "created" not in first


def test_applying_an_unedited_export_changes_nothing(cli, runtime, tmp_path):
    path = tmp_path / "inventory.yaml"
    cli("inventory", "export", "-o", str(path))
    before = change_count(runtime)
    output = cli("inventory", "apply", str(path)).output
    assert "0 created, 0 updated" in output and "unchanged dcim.device sw2" in output
    assert change_count(runtime) == before


def test_an_edited_field_updates_that_object_and_is_logged_as_cli(cli, runtime, tmp_path):
    path = tmp_path / "devices.json"
    cli("inventory", "export", "--model", "dcim.device", "--json", "-o", str(path))
    document = json.loads(path.read_text())
    document["dcim.device"][1]["serial"] = "NEW-1"
    path.write_text(json.dumps(document))
    output = cli("inventory", "apply", str(path), "-u", "carol").output
    assert "updated dcim.device sw1 (serial)" in output and "0 created, 1 updated, 2 unchanged" in output
    with runtime.session() as session:
        change = session.scalars(select(ObjectChange).where(ObjectChange.action == "update")).one()
        assert session.scalars(select(Device.serial).where(Device.name == "sw1")).one() == "NEW-1"
    assert (change.change_context, change.user_name, change.object_repr) == ("cli", "carol", "sw1")
    assert change.change_context_detail == "inventory apply devices.json"


DOCUMENT = """
dcim.device:
  - name: sw0
    site: {name: HQ}
    device_type: {manufacturer: {name: Acme}, model: Switch}
    device_role: {name: Access}
    status: {slug: active}
    serial: CHANGED
  - name: sw1
    site: {name: HQ}
    device_type: {manufacturer: {name: Acme}, model: Switch}
    device_role: {name: Access}
    status: {slug: active}
  - name: edge1
    site: {name: Branch}
    device_type: {manufacturer: {name: Acme}, model: Switch}
    device_role: {name: Access}
    status: {slug: active}
dcim.site:
  - name: Branch
    slug: branch
    status: {slug: active}
"""


def test_a_document_creates_updates_and_leaves_alone_then_its_dry_run_saves_nothing(cli, runtime, tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text(DOCUMENT)
    dry = cli("inventory", "apply", str(path), "--dry-run").output
    assert dry.splitlines() == [
        "created dcim.site Branch",
        "updated dcim.device sw0 (serial)",
        "unchanged dcim.device sw1",
        "created dcim.device edge1",
        "2 created, 1 updated, 1 unchanged (dry run: nothing was saved)",
    ]
    before = change_count(runtime)
    with runtime.session() as session:
        assert session.scalars(select(Device).where(Device.name == "edge1")).first() is None
    assert change_count(runtime) == before
    applied = cli("inventory", "apply", str(path)).output
    assert applied.splitlines()[-1] == "2 created, 1 updated, 1 unchanged"
    assert change_count(runtime) == before + 3
    assert cli("inventory", "apply", str(path)).output.splitlines()[-1] == "0 created, 0 updated, 4 unchanged"


@pytest.mark.parametrize(("document", "message"), [
    ("dcim.rack: []", '"dcim.rack" is not an inventory model'),
    ("users.user: []", '"users.user" is not an inventory model'),
    ("dcim.site: [{name: X, colour: red}]", "dcim.site[0]: Site has no field 'colour'"),
    ("dcim.site: [{name: X, slug: x, status: {slug: nope}}]", "dcim.site[0]: status: no extras.status matches"),
    ("dcim.site: [{name: X, slug: x}]", "dcim.site[0]: Site: status is required"),
    ("- just a list", "The document must map model labels"),
    ("dcim.site: {name: X}", "dcim.site: expected a list of objects"),
])
def test_a_document_that_cannot_be_applied_says_where_and_saves_nothing(cli, runtime, tmp_path, document, message):
    path = tmp_path / "bad.yaml"
    path.write_text(document)
    before = change_count(runtime)
    assert message in cli("inventory", "apply", str(path), code=4).output
    assert change_count(runtime) == before
