"""Object inputs that target bookkeeping models see only what the requester may see (SQLite and PostgreSQL)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kombu import Connection
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobruntime import Job, ObjectVar
from jobruntime.authoring.discovery import discover
from jobruntime.authoring.inputs import InputValidationError, validate_data
from jobruntime.authoring.records import sync
from jobruntime.authoring.variables import MultiObjectVar
from jobruntime.client import Client
from jobruntime.core.sanitize import Sanitizer
from jobruntime.models import (
    DeviceType,
    JobLogEntry,
    JobResult,
    Manufacturer,
    ObjectPermission,
    OutboxEvent,
    Token,
    User,
)
from jobruntime.models import Job as JobRecord
from jobruntime.run.auth import create_token
from jobruntime.run.runtime import Runtime
from jobruntime.testing import ensure_user, run_job_for_testing
from tests.bus_support import JOB_MODULES, RABBIT_URL, bus_environment, running_worker, settings_from, wait_for_result


@pytest.fixture
def people(session: Session, records) -> SimpleNamespace:
    """admin (superuser) with a result whose output says "wrote", and bob (plain) with one of his own."""
    passing, _failing = records
    admin = User(username="admin", is_superuser=True)
    bob = User(username="bob")
    session.add_all([admin, bob])
    session.flush()
    admins = JobResult(name=passing.class_path, job_model_id=passing.id, user_id=admin.id, status="completed",
                       data={"output": "wrote the secret config"})
    bobs = JobResult(name=passing.class_path, job_model_id=passing.id, user_id=bob.id, status="completed",
                     data={"output": "bob's output"})
    session.add_all([admins, bobs])
    session.flush()
    session.add(JobLogEntry(job_result_id=admins.id, seq=1, grouping="run", log_level="info", message="wrote"))
    session.add(ObjectPermission(user_id=bob.id, action="run_job", job_id=passing.id))
    session.flush()
    return SimpleNamespace(admin=admin, bob=bob, admins_result=admins, bobs_result=bobs, passing=passing,
                           failing=_failing)


def refusal(variables, data, requester) -> list[tuple[str, str, str]]:
    with pytest.raises(InputValidationError) as caught:
        validate_data(variables, data, requester=requester)
    return [(error.variable, error.rule, error.message) for error in caught.value.errors]


RESULT = {"result": ObjectVar(model=JobResult)}


def test_a_user_cannot_probe_another_users_results(people) -> None:
    assert refusal(RESULT, {"result": {"data__icontains": "wrote"}}, people.bob) == [
        ("result", "not_found", 'No JobResult matches {"data__icontains": "wrote"}.')
    ]


def test_another_users_result_by_pk_reads_as_missing(people) -> None:
    pk = str(people.admins_result.pk)
    assert refusal(RESULT, {"result": pk}, people.bob) == [("result", "not_found", f"No JobResult matches pk {pk}.")]


def test_a_user_chooses_among_their_own_results(people) -> None:
    chosen = validate_data(RESULT, {"result": {"data__icontains": "output"}}, requester=people.bob)["result"]
    assert chosen.pk == people.bobs_result.pk


def test_a_superuser_chooses_among_every_result(people) -> None:
    chosen = validate_data(RESULT, {"result": {"data__icontains": "wrote"}}, requester=people.admin)["result"]
    assert chosen.pk == people.admins_result.pk


def test_without_a_requester_no_bookkeeping_row_is_visible(people) -> None:
    pk = str(people.bobs_result.pk)
    assert refusal(RESULT, {"result": pk}, None) == [("result", "not_found", f"No JobResult matches pk {pk}.")]


@pytest.mark.parametrize("lookups", [{"user__username": "admin"}, {"user__is_superuser": True}, {"user": "x"}])
def test_lookups_never_lead_into_users_even_for_superusers(people, lookups) -> None:
    path = next(iter(lookups))
    assert refusal(RESULT, {"result": lookups}, people.admin) == [
        ("result", "lookup", f'The lookup "{path}" leads into User records, which job input may not search; '
                             f"name the object by its own fields or by its pk.")
    ]


def test_the_refusal_reads_the_same_whether_or_not_a_row_matches(people) -> None:
    exists = refusal(RESULT, {"result": {"user__username": "admin"}}, people.bob)
    missing = refusal(RESULT, {"result": {"user__username": "nobody-at-all"}}, people.bob)
    assert exists == missing


def test_inventory_lookups_cannot_reach_results_through_a_job(people) -> None:
    variables = {"job": ObjectVar(model=JobRecord)}
    errors = refusal(variables, {"job": {"results__data__icontains": "wrote"}}, people.admin)
    assert [(variable, rule) for variable, rule, _ in errors] == [("job", "lookup")]
    assert "leads into JobResult records" in errors[0][2]


def test_a_user_sees_only_themself(people) -> None:
    variables = {"who": ObjectVar(model=User)}
    assert refusal(variables, {"who": {"is_superuser": True}}, people.bob) == [
        ("who", "not_found", 'No User matches {"is_superuser": true}.')
    ]
    assert validate_data(variables, {"who": {"username": "bob"}}, requester=people.bob)["who"].pk == people.bob.pk


def test_a_user_sees_the_jobs_they_may_run(people) -> None:
    variables = {"job": MultiObjectVar(model=JobRecord)}
    allowed, other = str(people.passing.pk), str(people.failing.pk)
    assert [obj.pk for obj in validate_data(variables, {"job": [allowed]}, requester=people.bob)["job"]] == [
        people.passing.pk
    ]
    assert refusal(variables, {"job": [allowed, other]}, people.bob) == [
        ("job", "not_found", f"Failed to find requested objects for var job: [{other}]")
    ]


def test_log_entries_of_another_users_run_read_as_missing(people) -> None:
    variables = {"entry": ObjectVar(model=JobLogEntry)}
    assert refusal(variables, {"entry": {"message": "wrote"}}, people.bob) == [
        ("entry", "not_found", 'No JobLogEntry matches {"message": "wrote"}.')
    ]


def test_a_user_sees_only_their_own_permissions(people) -> None:
    variables = {"grant": ObjectVar(model=ObjectPermission)}
    assert validate_data(variables, {"grant": {"action": "run_job"}}, requester=people.bob)["grant"].user_id == (
        people.bob.pk
    )
    assert refusal(variables, {"grant": {"action": "run_job"}}, User(username="carol")) == [
        ("grant", "not_found", 'No ObjectPermission matches {"action": "run_job"}.')
    ]


@pytest.mark.parametrize("model", [Token, OutboxEvent])
def test_tokens_and_the_outbox_can_never_be_chosen(people, model) -> None:
    assert refusal({"var": ObjectVar(model=model)}, {"var": {"created__isnull": False}}, people.admin) == [
        ("var", "not_selectable", f"{model.__name__} objects cannot be chosen as job input.")
    ]


def test_inventory_lookups_are_unchanged(people) -> None:
    juniper = Manufacturer.objects.create(name="Juniper")
    device_type = DeviceType.objects.create(manufacturer=juniper, model="MX204")
    variables = {"device_type": ObjectVar(model=DeviceType)}
    chosen = validate_data(variables, {"device_type": {"manufacturer__name": "Juniper"}}, requester=None)
    assert chosen["device_type"].pk == device_type.pk


class ResultProbe(Job):
    """Reads another run's output when the lookup finds it: what a requester must not be able to do."""

    class Meta:
        name = "Result probe"

    result = ObjectVar(model=JobResult)

    def run(self, data, commit):
        return data["result"].data["output"]


def test_a_run_cannot_read_another_users_result(runtime) -> None:
    admin = ensure_user(runtime, "admin", superuser=True)
    with runtime.session() as session:
        session.add(JobResult(name="x", user_id=admin.id, status="completed", data={"output": "wrote secrets"}))
        session.commit()
    probe = run_job_for_testing(ResultProbe, data={"result": {"data__icontains": "wrote"}}, username="mallory",
                                runtime=runtime)
    assert probe.status == "errored"
    assert probe.reason == 'Error initializing job: result: No JobResult matches {"data__icontains": "wrote"}.'
    assert "wrote secrets" not in (probe.data or {}).get("output", "")
    by_admin = run_job_for_testing(ResultProbe, data={"result": {"data__icontains": "wrote"}}, username="admin",
                                   runtime=runtime)
    assert by_admin.status == "completed"
    assert by_admin.data["output"] == "\nwrote secrets"


@pytest.fixture
def bus(engine, db_url, tmp_path):
    """A worker's settings, the test jobs enabled, admin (superuser) with a result, and bob (may run every job)."""
    env = bus_environment(db_url, tmp_path)
    settings = settings_from(env)
    with Session(engine) as session:
        sync(session, discover(JOB_MODULES))
        for record in session.scalars(select(JobRecord)):
            record.enabled = True
        admin, bob = User(username="admin", is_superuser=True), User(username="bob")
        session.add_all([admin, bob])
        session.flush()
        session.add(ObjectPermission(user_id=bob.id, action="run_job"))
        session.add(JobResult(name="x", user_id=admin.id, status="completed", data={"output": "wrote secrets"}))
        bob_token = create_token(session, bob)
        session.commit()
    yield SimpleNamespace(env=env, settings=settings, runtime=Runtime(settings=settings, engine=engine,
                          sanitizer=Sanitizer(settings.sanitizer_patterns)), bob_token=bob_token)
    with Connection(RABBIT_URL) as connection:
        connection.channel().queue_delete(env["JOBRUNTIME_DEFAULT_QUEUE"])


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_request_on_the_bus_cannot_read_another_users_result(bus) -> None:
    data = {"result": {"data__icontains": "wrote"}}
    with running_worker(bus.env):
        with Client(bus.settings, username="bob", token=bus.bob_token) as client:
            probe = client.request("local/bus_jobs/ResultReader", data=data)
            client.publish(probe)
        with Client(bus.settings, username="admin") as client:
            allowed = client.request("local/bus_jobs/ResultReader", data=data)
            client.publish(allowed)
        probed = wait_for_result(bus.runtime, probe.job_result_id, timeout=60)
        read = wait_for_result(bus.runtime, allowed.job_result_id, timeout=60)
    assert (probed.status, probed.reason) == (
        "errored", 'Error initializing job: result: No JobResult matches {"data__icontains": "wrote"}.'
    )
    assert "wrote secrets" not in str(probed.data)
    assert (read.status, read.data["output"]) == ("completed", "\nwrote secrets")
