"""Model, QuerySet and migration behaviour, run against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import netaddr
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobruntime.models import (
    VLAN,
    Cable,
    ConsolePort,
    ConsoleServerPort,
    Device,
    DeviceRole,
    DeviceType,
    FieldError,
    Interface,
    IPAddress,
    Job,
    JobLogEntry,
    JobResult,
    Manufacturer,
    NoSessionBound,
    ObjectDoesNotExist,
    Platform,
    PowerOutlet,
    Prefix,
    ProtectedError,
    Site,
    Status,
    Tenant,
    ValidationError,
    bind_session,
    current_session,
)
from jobruntime.models.natural import naturalize, naturalize_interface
from jobruntime.store.database import DEFAULT_STATUSES, make_engine, migrate


@dataclass
class Inventory:
    """A small inventory: two sites with one device each; r1 has three interfaces, r2 two."""

    active: Status
    planned: Status
    connected: Status
    site: Site
    other_site: Site
    device_type: DeviceType
    role: DeviceRole
    r1: Device
    r2: Device

    def device(self, name: str | None, site: Site | None = None) -> Device:
        return new_device(name, site or self.site, self.device_type, self.role, self.active)


def new_device(name: str | None, site: Site, device_type: DeviceType, role: DeviceRole, status: Status) -> Device:
    device = Device(name=name, device_type=device_type, device_role=role, site=site, status=status)
    device.validated_save()
    return device


@pytest.fixture
def inv(session: Session) -> Inventory:
    statuses = {status.slug: status for status in Status.objects.filter(slug__in=["active", "planned", "connected"])}
    active = statuses["active"]
    site = Site.objects.create(name="Branch 1", status=active, asn=65001)
    other_site = Site.objects.create(name="HQ", status=statuses["planned"], asn=65100)
    device_type = DeviceType.objects.create(manufacturer=Manufacturer.objects.create(name="Cisco"), model="ISR4331")
    role = DeviceRole.objects.create(name="Router")
    r1 = new_device("r1", site, device_type, role, active)
    r2 = new_device("r2", other_site, device_type, role, active)
    for device, names in ((r1, ["lo0", "eth0", "eth1"]), (r2, ["lo0", "eth0"])):
        for name in names:
            Interface.objects.create(device=device, name=name)
    return Inventory(active, statuses["planned"], statuses["connected"], site, other_site, device_type, role, r1, r2)


def eth0_pair(inv: Inventory) -> tuple[Interface, Interface]:
    return Interface.objects.get(device=inv.r1, name="eth0"), Interface.objects.get(device=inv.r2, name="eth0")


# -- database plumbing -------------------------------------------------------------------------


def test_default_statuses_are_seeded(session: Session) -> None:
    assert {status.slug for status in Status.objects.all()} == {seed.slug for seed in DEFAULT_STATUSES}
    assert Status.objects.get(slug="dhcp").name == "DHCP"


def test_fresh_migration_creates_tables_and_default_statuses(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    migrate(engine)
    with Session(engine) as session, bind_session(session):
        assert Status.objects.count() == len(DEFAULT_STATUSES)
        assert Site.objects.count() == 0


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from jobruntime.store.database import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def test_migrate_twice_is_a_no_op(engine: sa.Engine) -> None:
    migrate(engine)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == _head_revision()
        assert conn.execute(sa.text("SELECT count(*) FROM status")).scalar_one() == len(DEFAULT_STATUSES)


_NO_INVENTORY_JOB = """
from jobruntime import Job, StringVar


class Hello(Job):
    greeting = StringVar(default="hello")

    def run(self, data, commit):
        self.log_info(data["greeting"])
        return data["greeting"]
"""

_RUN_IN_A_FRESH_PROCESS = """
import sys
from jobruntime.cli import main
try:
    main(["runjob", "--local", "local/hello/Hello"])
except SystemExit as exit:
    print("exit", exit.code)
import jobruntime.models
print("unknown name:", hasattr(jobruntime.models, "NoSuchModel"))
print("inventory declared:", "jobruntime.models.dcim" in sys.modules)
from jobruntime.models import Site, model_for_label
print("after asking:", Site.__tablename__, model_for_label("dcim.device").__name__)
"""


def test_inventory_models_are_declared_only_once_something_asks_for_one(tmp_path: Path) -> None:
    """A run of a job that never touches inventory skips declaring it (start-up time); asking declares it."""
    import subprocess
    import sys

    from tests.cli_support import invoker

    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "__init__.py").write_text("")
    (jobs / "hello.py").write_text(_NO_INVENTORY_JOB)
    env = {"JOBRUNTIME_DATABASE_URL": f"sqlite:///{tmp_path / 'lazy.db'}", "JOBRUNTIME_JOBS_ROOT": str(jobs),
           "JOBRUNTIME_HOME": str(tmp_path)}
    invoke = invoker(env)
    invoke("migrate")
    invoke("sync")
    invoke("jobs", "enable", "local/hello/Hello")
    run = subprocess.run([sys.executable, "-c", _RUN_IN_A_FRESH_PROCESS], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "exit 0" in run.stdout and "SUCCESS" in run.stdout, run.stdout
    assert "unknown name: False" in run.stdout and "inventory declared: False" in run.stdout
    assert "after asking: site Device" in run.stdout


def test_the_package_offers_exactly_the_inventory_models_module_exports() -> None:
    from jobruntime.models import inventory
    from jobruntime.models.base import INVENTORY_NAMES

    assert sorted(inventory.__all__) == sorted(INVENTORY_NAMES)


def test_make_engine_is_cached_per_url(db_url: str) -> None:
    assert make_engine(db_url) is make_engine(db_url)


def test_make_engine_creates_sqlite_parent_directory(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'deeper' / 'x.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert (tmp_path / "nested" / "deeper").is_dir()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(engine: sa.Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_only_the_autocommit_pool_relaxes_postgresql_commits(engine: sa.Engine) -> None:
    """Claims, verdicts and outbox rows commit on ``engine``: they must wait for the WAL flush."""
    if engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit is a PostgreSQL setting")
    relaxed = make_engine(engine.url, autocommit=True)
    with engine.connect() as durable_connection, relaxed.connect() as relaxed_connection:
        assert durable_connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        assert relaxed_connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"


def test_current_session_without_binding_raises_no_session_bound() -> None:
    with pytest.raises(NoSessionBound, match="bind_session"):
        current_session()


def test_bind_session_nests_and_restores_previous(engine: sa.Engine) -> None:
    with Session(engine) as outer, Session(engine) as inner, bind_session(outer):
        with bind_session(inner):
            assert current_session() is inner
        assert current_session() is outer


def test_queryset_built_without_session_is_evaluated_when_bound(engine: sa.Engine) -> None:
    queryset = Status.objects.filter(slug="active")
    with Session(engine) as session, bind_session(session):
        assert [status.name for status in queryset] == ["Active"]


# -- lookups -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lookup", "value", "expected"),
    [
        ("name", "Branch 1", ["Branch 1"]),
        ("name__exact", "HQ", ["HQ"]),
        ("name__iexact", "branch 1", ["Branch 1"]),
        ("name__contains", "ranch", ["Branch 1"]),
        ("name__contains", "RANCH", []),
        ("name__icontains", "RANCH", ["Branch 1"]),
        ("name__startswith", "Bra", ["Branch 1"]),
        ("name__istartswith", "bra", ["Branch 1"]),
        ("name__endswith", "Q", ["HQ"]),
        ("name__iendswith", "q", ["HQ"]),
        ("name__in", ["HQ", "nowhere"], ["HQ"]),
        ("name__in", ("HQ", "Branch 1"), ["Branch 1", "HQ"]),
        ("name__in", {"HQ"}, ["HQ"]),
        ("region__isnull", True, ["Branch 1", "HQ"]),
        ("time_zone", None, ["Branch 1", "HQ"]),
        ("asn__gt", 65001, ["HQ"]),
        ("asn__gte", 65001, ["Branch 1", "HQ"]),
        ("asn__lt", 65100, ["Branch 1"]),
        ("asn__lte", 65001, ["Branch 1"]),
        ("name__contains", "%", []),
    ],
)
def test_lookup_kinds_filter_sites(inv: Inventory, lookup: str, value: object, expected: list[str]) -> None:
    assert [site.name for site in Site.objects.filter(**{lookup: value})] == expected


def test_in_lookup_accepts_queryset(inv: Inventory) -> None:
    active_sites = Site.objects.filter(status__slug="active")
    assert [device.name for device in Device.objects.filter(site__in=active_sites)] == ["r1"]


def test_in_lookup_accepts_values_list_queryset(inv: Inventory) -> None:
    names = Site.objects.filter(asn__gt=65050).values_list("name", flat=True)
    assert [site.name for site in Site.objects.filter(name__in=names)] == ["HQ"]


def test_relation_equality_accepts_instance_pk_and_string_pk(inv: Inventory) -> None:
    for value in (inv.site, inv.site.pk, str(inv.site.pk)):
        assert [device.name for device in Device.objects.filter(site=value)] == ["r1"]


def test_foreign_key_id_lookup_accepts_uuid(inv: Inventory) -> None:
    assert Device.objects.get(site_id=inv.other_site.id) == inv.r2


def test_pk_and_id_lookups_accept_string_uuid(inv: Inventory) -> None:
    assert Site.objects.get(pk=str(inv.site.pk)) is inv.site
    assert Site.objects.get(id=str(inv.site.id)) is inv.site


def test_relation_traversal_through_two_levels(inv: Inventory) -> None:
    interfaces = Interface.objects.filter(device__site__name__icontains="branch")
    assert {(i.device.name, i.name) for i in interfaces} == {("r1", "lo0"), ("r1", "eth0"), ("r1", "eth1")}


def test_relation_traversal_compares_related_object(inv: Inventory) -> None:
    assert Interface.objects.filter(device__status=inv.active).count() == 5
    assert Interface.objects.filter(device__site__status__slug="planned").count() == 2


def test_reverse_traversal_matches_each_parent_once(inv: Inventory) -> None:
    devices = Device.objects.filter(interfaces__name__startswith="eth")
    assert [device.name for device in devices] == ["r1", "r2"]


def test_a_reverse_relation_answers_the_related_manager_calls_of_job_code(inv: Inventory) -> None:
    from jobruntime.models import QuerySet

    everything = inv.r1.interfaces.all()
    assert isinstance(everything, QuerySet) and everything.model is Interface
    assert sorted(interface.name for interface in everything) == ["eth0", "eth1", "lo0"]
    assert inv.r1.interfaces.count() == 3 and inv.r2.interfaces.count() == 2
    assert [i.name for i in inv.r1.interfaces.filter(name__startswith="eth").order_by("name")] == ["eth0", "eth1"]
    assert inv.r1.interfaces.exclude(name="lo0").count() == 2
    assert inv.r1.interfaces.get(name="lo0").device == inv.r1
    assert inv.site.devices.exists() and not inv.r1.console_ports.exists()
    assert list(inv.site.devices.values_list("name", flat=True)) == ["r1"]
    assert inv.r1.interfaces.order_by("name").first().name == "eth0"


def test_a_reverse_relation_is_still_the_list_the_orm_keeps(inv: Inventory) -> None:
    interfaces = inv.r2.interfaces
    assert len(interfaces) == 2 and {interface.name for interface in interfaces} == {"lo0", "eth0"}
    assert interfaces.count(interfaces[0]) == 1  # with an argument, list.count
    Interface.objects.create(device=inv.r2, name="eth1")
    assert inv.r2.interfaces.count() == 3


def test_lookups_of_one_filter_through_a_many_valued_relation_hold_for_one_related_row(inv: Inventory) -> None:
    eth1 = Interface.objects.get(device=inv.r1, name="eth1")
    eth1.enabled = False
    eth1.validated_save()
    assert Device.objects.filter(interfaces__name="eth0", interfaces__enabled=False).count() == 0
    assert [d.name for d in Device.objects.filter(interfaces__name="eth1", interfaces__enabled=False)] == ["r1"]
    chained = Device.objects.filter(interfaces__name="eth0").filter(interfaces__enabled=False)
    assert [d.name for d in chained] == ["r1"]  # separate filter() calls may match different rows, as in Django


def test_a_missing_related_row_matches_null_lookups_through_it(inv: Inventory) -> None:
    tenant = Tenant.objects.create(name="Acme")
    inv.r2.tenant = tenant
    inv.r2.validated_save()
    assert [d.name for d in Device.objects.filter(tenant__name__isnull=True)] == ["r1"]
    assert [d.name for d in Device.objects.filter(tenant__name=None)] == ["r1"]
    assert [d.name for d in Device.objects.exclude(tenant__name__isnull=True)] == ["r2"]
    assert [d.name for d in Device.objects.filter(tenant__name="Acme")] == ["r2"]
    empty = Site.objects.create(name="Empty", status=inv.active)
    assert [site.name for site in Site.objects.filter(devices=None)] == [empty.name]


def test_objects_read_after_a_delete_see_what_the_database_did(inv: Inventory) -> None:
    ios = Platform.objects.create(name="IOS")
    inv.r1.platform = ios
    inv.r1.validated_save()
    assert inv.r1.platform is ios
    ios.delete()  # the database sets the devices' platform to NULL
    again = Device.objects.get(pk=inv.r1.pk)
    assert again.platform is None
    again.serial = "orphaned"
    again.validated_save()
    eth0 = Interface.objects.get(device=inv.r1, name="eth0")
    address = IPAddress.objects.create(address=netaddr.IPNetwork("192.0.2.1/24"), status=inv.active, interface=eth0)
    eth0.delete()  # and deletes the interface's addresses
    assert not IPAddress.objects.filter(pk=address.pk).exists()


def test_an_object_refused_by_validation_is_not_saved_later_with_its_parent(inv: Inventory) -> None:
    assert len(inv.r1.interfaces) == 3
    with pytest.raises(ValidationError, match="mtu"):
        Interface(device=inv.r1, name="bad0", mtu=0).validated_save()
    inv.r1.name = "r1-renamed"
    inv.r1.validated_save()
    assert not Interface.objects.filter(name="bad0").exists()


def test_an_object_pointing_at_an_unsaved_one_is_refused_until_that_one_is_saved(inv: Inventory) -> None:
    unsaved_type = DeviceType(manufacturer=inv.device_type.manufacturer, model="Unsaved", u_height=-5)
    device = Device(name="r9", device_type=unsaved_type, device_role=inv.role, site=inv.site, status=inv.active)
    with pytest.raises(ValidationError, match="save the DeviceType in device_type first"):
        device.validated_save()
    assert not DeviceType.objects.filter(model="Unsaved").exists()


def test_sliced_querysets_refuse_what_django_refuses(inv: Inventory) -> None:
    sliced = Interface.objects.order_by("name")[1:3]
    for call in (sliced.reverse, sliced.last, lambda: sliced.update(enabled=False), sliced.delete):
        with pytest.raises(TypeError, match="once a slice has been taken"):
            call()


@pytest.mark.parametrize("fields", [{"descripton": "typo"}, {"status__slug": "planned"}])
def test_update_refuses_fields_the_model_does_not_have(inv: Inventory, fields: dict) -> None:
    with pytest.raises(FieldError, match="has no field"):
        Device.objects.filter(name="r1").update(**fields)


def test_a_region_cannot_be_inside_itself(session: Session) -> None:
    from jobruntime.models import Region

    top = Region.objects.create(name="Europe")
    inner = Region.objects.create(name="Benelux", parent=top)
    top.parent = inner
    with pytest.raises(ValidationError, match="Benelux is Europe or inside it"):
        top.validated_save()
    inner.parent = inner
    with pytest.raises(ValidationError, match="cannot have Benelux as parent"):
        inner.validated_save()


def test_datetime_lookups_take_iso_strings(session: Session) -> None:
    JobResult(name="local/x/Y").validated_save()
    assert JobResult.objects.filter(created__gte="2000-01-01T00:00:00+00:00").count() == 1
    assert JobResult.objects.filter(created__lt="2000-01-01T00:00:00").count() == 0
    with pytest.raises(ValidationError, match="is not an ISO 8601 date and time"):
        JobResult.objects.filter(created__gte="yesterday").count()


def test_objects_take_pk_as_django_models_do(inv: Inventory) -> None:
    chosen = uuid.uuid4()
    site = Site.objects.create(pk=chosen, name="Chosen", status=inv.active)
    assert site.pk == chosen and Site.objects.get(pk=chosen) is site


def test_slugs_are_made_and_checked_as_nautobot_does(inv: Inventory) -> None:
    assert Site.objects.create(name="Zürich Ost", status=inv.active).slug == "zurich-ost"
    with pytest.raises(ValidationError, match="consisting of letters, numbers, underscores or hyphens"):
        Site(name="Odd", slug="Bad Slug!", status=inv.active).validated_save()


def test_pattern_lookups_work_on_numbers(inv: Inventory) -> None:
    assert [site.name for site in Site.objects.filter(asn__contains=500)] == ["Branch 1"]
    assert [site.name for site in Site.objects.filter(asn__startswith="6510")] == ["HQ"]
    assert Site.objects.filter(asn__iexact="65001").count() == 1


def test_pattern_lookups_on_ids_take_the_dashed_text_users_paste(inv: Inventory) -> None:
    text = str(inv.r1.pk)
    assert [d.name for d in Device.objects.filter(id__startswith=text[:13])] == ["r1"]  # past the first dash
    assert [d.name for d in Device.objects.filter(id__iendswith=text[-17:].upper())] == ["r1"]
    assert [d.name for d in Device.objects.filter(pk__contains=text[9:23])] == ["r1"]
    assert [i.device.name for i in Interface.objects.filter(device__id__startswith=text[:13], name="eth0")] == ["r1"]


def test_primary_ip_prefers_ipv6_as_nautobot_does_by_default(inv: Inventory) -> None:
    eth0 = Interface.objects.get(device=inv.r1, name="eth0")
    v4 = IPAddress.objects.create(address="192.0.2.1/24", status=inv.active, interface=eth0)
    v6 = IPAddress.objects.create(address="2001:db8::1/64", status=inv.active, interface=eth0)
    inv.r1.primary_ip4 = v4
    assert inv.r1.primary_ip is v4
    inv.r1.primary_ip6 = v6
    assert inv.r1.primary_ip is v6


def test_reverse_relation_equality_with_child_instance(inv: Inventory) -> None:
    eth1 = Interface.objects.get(device=inv.r1, name="eth1")
    assert list(Device.objects.filter(interfaces=eth1)) == [inv.r1]


def test_unknown_field_raises_field_error_naming_model(inv: Inventory) -> None:
    with pytest.raises(FieldError, match="Site has no field 'nmae'"):
        Site.objects.filter(nmae="x")


def test_unknown_lookup_raises_field_error(inv: Inventory) -> None:
    with pytest.raises(FieldError, match="no lookup 'regex'"):
        Site.objects.filter(name__regex="x")


def test_invalid_uuid_string_is_a_validation_error(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match="not a valid UUID"):
        Site.objects.filter(pk="not-a-uuid")


def test_exclude_keeps_rows_where_compared_value_is_null(inv: Inventory) -> None:
    tenant = Tenant.objects.create(name="Acme")
    inv.r2.tenant = tenant
    inv.r2.validated_save()
    assert [device.name for device in Device.objects.exclude(tenant=tenant)] == ["r1"]
    assert [device.name for device in Device.objects.exclude(tenant__isnull=True)] == ["r2"]


# -- get / create ------------------------------------------------------------------------------


def test_get_missing_raises_model_does_not_exist(inv: Inventory) -> None:
    with pytest.raises(Site.DoesNotExist, match=r"Site matching query does not exist: \{'name': 'x'\}"):
        Site.objects.get(name="x")


def test_model_does_not_exist_is_model_specific_object_does_not_exist() -> None:
    assert issubclass(Site.DoesNotExist, ObjectDoesNotExist)
    assert not issubclass(Site.DoesNotExist, Device.DoesNotExist)


def test_get_with_several_matches_raises_multiple_objects_returned(inv: Inventory) -> None:
    with pytest.raises(Interface.MultipleObjectsReturned, match="more than one Interface"):
        Interface.objects.get(name="lo0")


def test_get_or_create_creates_then_fetches(inv: Inventory) -> None:
    first, created = Tenant.objects.get_or_create(name="Acme", defaults={"description": "customer"})
    second, created_again = Tenant.objects.get_or_create(name="Acme")
    assert (created, created_again) == (True, False)
    assert second is first
    assert second.description == "customer"


def test_update_or_create_applies_defaults_to_existing(inv: Inventory) -> None:
    site, created = Site.objects.update_or_create(name="HQ", defaults={"facility": "DC-9"})
    assert not created
    assert Site.objects.get(facility="DC-9") is site


def test_create_saves_without_full_clean_as_django_does(inv: Inventory) -> None:
    site = Site.objects.create(name="Far away", status=inv.active, latitude=120.0)
    assert Site.objects.get(name="Far away").latitude == 120.0
    with pytest.raises(ValidationError, match="Site: latitude 120.0 is outside -90..90"):
        site.validated_save()


def test_validated_save_still_refuses_what_create_would_leave_to_the_database(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match="Site: status is required"):
        Site(name="No status").validated_save()


def test_slug_is_filled_from_name(inv: Inventory) -> None:
    assert inv.site.slug == "branch-1"


def test_new_object_has_python_defaults_before_saving(inv: Inventory) -> None:
    interface = Interface(device=inv.r1, name="eth9")
    assert (interface.type, interface.enabled, interface.mgmt_only) == ("virtual", True, False)
    assert isinstance(interface.pk, uuid.UUID)


# -- ordering, slicing, evaluation -------------------------------------------------------------


def test_default_ordering_sorts_sites_by_name(inv: Inventory) -> None:
    Site.objects.create(name="Alpha", status=inv.active)
    assert [site.name for site in Site.objects.all()] == ["Alpha", "Branch 1", "HQ"]


def test_order_by_descending_field(inv: Inventory) -> None:
    assert [site.name for site in Site.objects.order_by("-asn")] == ["HQ", "Branch 1"]


def test_interfaces_order_by_device_then_name(inv: Inventory) -> None:
    pairs = [(i.device.name, i.name) for i in Interface.objects.all()]
    assert pairs == [("r1", "eth0"), ("r1", "eth1"), ("r1", "lo0"), ("r2", "eth0"), ("r2", "lo0")]


def test_order_by_related_field(inv: Inventory) -> None:
    assert [device.name for device in Device.objects.order_by("-site__name")] == ["r2", "r1"]


def test_slicing_applies_offset_and_limit(inv: Inventory) -> None:
    names = [i.name for i in Interface.objects.filter(device=inv.r1)[1:3]]
    assert names == ["eth1", "lo0"]


def test_integer_index_returns_object_or_raises_index_error(inv: Inventory) -> None:
    assert Site.objects.all()[1].name == "HQ"
    with pytest.raises(IndexError):
        Site.objects.all()[5]


def test_negative_index_is_rejected(inv: Inventory) -> None:
    with pytest.raises(ValueError, match="Negative indexing"):
        Site.objects.all()[-1]


def test_first_last_count_exists_len_and_bool(inv: Inventory) -> None:
    sites = Site.objects.all()
    assert (sites.first().name, sites.last().name) == ("Branch 1", "HQ")
    assert (sites.count(), len(sites), bool(sites), sites.exists()) == (2, 2, True, True)
    assert not Site.objects.filter(name="none")
    assert Site.objects.filter(name="none").first() is None


def test_values_list_flat_and_across_relation(inv: Inventory) -> None:
    assert list(Device.objects.values_list("name", flat=True)) == ["r1", "r2"]
    assert list(Device.objects.values_list("name", "site__name")) == [("r1", "Branch 1"), ("r2", "HQ")]


def test_values_returns_dicts(inv: Inventory) -> None:
    assert list(Site.objects.values("name", "asn")) == [
        {"name": "Branch 1", "asn": 65001},
        {"name": "HQ", "asn": 65100},
    ]


def test_prefetch_and_select_related_load_relations(inv: Inventory, session: Session) -> None:
    session.expunge_all()
    devices = list(Device.objects.select_related("site", "status").prefetch_related("interfaces__ip_addresses"))
    assert {"site", "status", "interfaces"} <= set(sa.inspect(devices[0]).dict)
    assert "ip_addresses" in sa.inspect(devices[0].interfaces[0]).dict


def test_prefetch_related_unknown_name_raises_field_error(inv: Inventory) -> None:
    with pytest.raises(FieldError, match="Device has no relation 'interfacez'"):
        Device.objects.prefetch_related("interfacez")


def test_queryset_delete_removes_matching_rows(inv: Inventory) -> None:
    deleted, per_model = Interface.objects.filter(name="lo0").delete()
    assert (deleted, per_model) == (2, {"dcim.interface": 2})
    assert Interface.objects.count() == 3


def test_queryset_update_sets_fields(inv: Inventory) -> None:
    assert Interface.objects.filter(device=inv.r2).update(enabled=False) == 2
    assert Interface.objects.filter(enabled=False).count() == 2


# -- validated_save ----------------------------------------------------------------------------


def test_validated_save_reports_missing_required_relation(inv: Inventory) -> None:
    device = Device(name="r3", device_role=inv.role, site=inv.site, status=inv.active)
    with pytest.raises(ValidationError, match="Device: device_type is required"):
        device.validated_save()


def test_validated_save_reports_duplicate_unique_value(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match='Site: name "Branch 1" already exists'):
        Site(name="Branch 1", slug="other", status=inv.active).validated_save()


def test_validated_save_reports_the_first_missing_or_too_long_field_in_column_order(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match=r"^Site: facility is longer than 50 characters \(51\)$"):
        Site(name="Branch 2", status=inv.active, facility="f" * 51, contact_name="c" * 51).validated_save()
    with pytest.raises(ValidationError, match="^Site: name is required$"):
        Site(name="", status=inv.active, facility="f" * 51).validated_save()
    Site(name="Branch 2", status=inv.active, facility="f" * 50).validated_save()


def test_validated_save_checks_every_unique_field_in_one_query_and_reports_the_first_taken(
    inv: Inventory, session: Session
) -> None:
    """Name and slug are both checked by one SELECT; with both taken, name (declared first) is the one reported."""
    selects: list[str] = []

    def note(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    sa.event.listen(session.get_bind(), "before_cursor_execute", note)
    try:
        with pytest.raises(ValidationError, match='^Site: name "Branch 1" already exists$'):
            Site(name="Branch 1", slug="hq", status=inv.active).validated_save()
        with pytest.raises(ValidationError, match='^Site: slug "hq" already exists$'):
            Site(name="Branch 2", slug="hq", status=inv.active).validated_save()
    finally:
        sa.event.remove(session.get_bind(), "before_cursor_execute", note)
    assert len(selects) == 2
    assert all(statement.count("EXISTS") == 2 for statement in selects)
    assert Site.objects.count() == 2


def test_validated_save_checks_a_row_without_pk_against_every_row(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match='^Site: name "HQ" already exists$'):
        Site(id=None, name="HQ", slug="head-office", status=inv.active).validated_save()


def test_validated_save_reports_duplicate_within_parent(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match='Interface: name "eth0" already exists for device "r1"'):
        Interface(device=inv.r1, name="eth0").validated_save()


def test_device_names_are_unique_per_site_and_tenant_no_tenant_counting_as_one(inv: Inventory) -> None:
    acme, globex = Tenant.objects.create(name="Acme"), Tenant.objects.create(name="Globex")
    for tenant in (acme, globex):
        Device(name="edge", tenant=tenant, device_type=inv.device_type, device_role=inv.role, site=inv.site,
               status=inv.active).validated_save()
    with pytest.raises(ValidationError, match='Device: name "edge" already exists for site "Branch 1", tenant "Acme"'):
        Device(name="edge", tenant=acme, device_type=inv.device_type, device_role=inv.role, site=inv.site,
               status=inv.active).validated_save()
    inv.device("edge")  # no tenant: a third "edge" at this site
    with pytest.raises(ValidationError, match='Device: name "edge" already exists for site "Branch 1"$'):
        inv.device("edge")
    inv.device(None), inv.device(None)  # unnamed devices never clash


def test_the_database_refuses_a_second_device_without_tenant_of_the_same_name(inv: Inventory, session: Session) -> None:
    """The partial unique index holds even for writes that skip validated_save()."""
    inv.device("edge")
    session.add(Device(name="edge", device_type=inv.device_type, device_role=inv.role, site=inv.site,
                           status=inv.active))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def test_validated_save_allows_resaving_itself(inv: Inventory) -> None:
    inv.site.description = "updated"
    inv.site.validated_save()
    assert Site.objects.get(description="updated") is inv.site


def test_unnamed_devices_may_share_a_site(inv: Inventory) -> None:
    first, second = inv.device(None), inv.device(None)
    assert str(first) == f"ISR4331 ({first.pk})"
    assert first.pk != second.pk


def test_validated_save_rejects_too_long_string(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match="Site: facility is longer than 50 characters"):
        Site(name="Long", status=inv.active, facility="x" * 51).validated_save()


def test_deleting_a_referenced_status_is_protected(inv: Inventory) -> None:
    with pytest.raises(ProtectedError, match='Status "Active" cannot be deleted while'):
        inv.active.delete()


def test_deleting_a_device_deletes_its_interfaces(inv: Inventory) -> None:
    inv.r2.delete()
    assert Interface.objects.filter(device__name="r2").count() == 0
    assert Interface.objects.count() == 3


def test_deleting_an_interface_deletes_its_ip_addresses_as_in_nautobot(inv: Inventory) -> None:
    eth0 = Interface.objects.get(device=inv.r1, name="eth0")
    kept = IPAddress.objects.create(address="10.0.0.2/24", status=inv.active, assigned_object=eth0)
    IPAddress.objects.create(address="10.0.0.1/24", status=inv.active, assigned_object=eth0)
    IPAddress.objects.create(address="10.0.0.9/24", status=inv.active)
    kept.assigned_object = None  # unassigning an address keeps it
    kept.validated_save()
    eth0.delete()
    assert sorted(str(ip.address) for ip in IPAddress.objects.all()) == ["10.0.0.2/24", "10.0.0.9/24"]


def test_deleting_a_device_deletes_the_addresses_of_its_interfaces(inv: Inventory) -> None:
    eth0 = Interface.objects.get(device=inv.r2, name="eth0")
    IPAddress.objects.create(address="10.0.1.1/24", status=inv.active, assigned_object=eth0)
    inv.r2.delete()
    assert IPAddress.objects.filter(address="10.0.1.1/24").count() == 0


def test_absolute_url_and_meta_label(inv: Inventory) -> None:
    assert inv.site.get_absolute_url() == f"/dcim/sites/{inv.site.pk}/"
    assert IPAddress._meta_label == "ipam.ipaddress"


# -- natural ordering (Nautobot's hidden _name keys) ----------------------------------------------


def test_natural_keys_widen_numbers_and_order_interfaces_by_slot_then_type():
    assert naturalize("site9router21") == "site00000009router00000021"
    assert naturalize(None) is None and naturalize("x" * 120) == "x" * 100
    names = ["Te1/0/1", "Gi1/0/10", "Loopback0", "Gi1/0/2", "Gi1/0/1.100", "Gi1/0/1:2", "eth10", "eth2", "Gi2/0/1"]
    assert sorted(names, key=naturalize_interface) == [
        "Gi1/0/1.100", "Gi1/0/1:2", "Gi1/0/2", "Gi1/0/10", "Te1/0/1", "Gi2/0/1", "Loopback0", "eth2", "eth10",
    ]


def test_devices_and_sites_come_back_in_natural_order(inv: Inventory) -> None:
    for name in ("sw10", "sw2", "sw1"):
        inv.device(name)
    assert [d.name for d in Device.objects.filter(name__startswith="sw")] == ["sw1", "sw2", "sw10"]
    assert [d.name for d in Device.objects.filter(name__startswith="sw").order_by("name")] == ["sw1", "sw10", "sw2"]
    for name in ("Branch 10", "Branch 9"):
        Site.objects.create(name=name, status=inv.active)
    assert [s.name for s in Site.objects.all()] == ["Branch 1", "Branch 9", "Branch 10", "HQ"]


def test_a_renamed_object_moves_to_its_new_place(inv: Inventory) -> None:
    for name in ("Gi1/0/10", "Gi1/0/2"):
        Interface.objects.create(device=inv.r1, name=name)
    assert [i.name for i in inv.r1.interfaces.filter(name__startswith="Gi")] == ["Gi1/0/2", "Gi1/0/10"]
    tenth = Interface.objects.get(device=inv.r1, name="Gi1/0/10")
    tenth.name = "Gi1/0/1"
    tenth.validated_save()
    assert [i.name for i in Interface.objects.filter(device=inv.r1, name__startswith="Gi")] == ["Gi1/0/1", "Gi1/0/2"]


# -- IPAM --------------------------------------------------------------------------------------


def test_prefix_with_host_bits_is_rejected_with_suggestion(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match=r"Prefix: 10.0.0.1/24 is not a valid prefix. Did you mean 10.0.0.0/24\?"):
        Prefix(prefix="10.0.0.1/24", status=inv.active).validated_save()


def test_prefix_exposes_family_length_and_network(inv: Inventory) -> None:
    prefix = Prefix.objects.create(prefix="2001:db8::/32", status=inv.active)
    assert (prefix.family, prefix.prefix_length, prefix.network) == (6, 32, "2001:db8::")
    assert Prefix.objects.get(family=6) is prefix


def test_prefixes_order_by_version_then_network_value(inv: Inventory) -> None:
    for text in ("10.0.10.0/24", "2001:db8::/32", "10.0.9.0/24", "9.0.0.0/8"):
        Prefix.objects.create(prefix=text, status=inv.active)
    assert [str(p) for p in Prefix.objects.all()] == ["9.0.0.0/8", "10.0.9.0/24", "10.0.10.0/24", "2001:db8::/32"]


def test_ip_address_without_mask_is_rejected(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match=r"IPAddress: address 10\.0\.0\.1 has no mask"):
        IPAddress(address="10.0.0.1", status=inv.active).validated_save()


def test_unparseable_ip_address_is_rejected(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match="is not a valid IP network"):
        IPAddress(address="10.0.0.300/24", status=inv.active)


def test_ip_address_parent_is_most_specific_containing_prefix(inv: Inventory) -> None:
    Prefix.objects.create(prefix="10.0.0.0/8", status=inv.active)
    slash24 = Prefix.objects.create(prefix="10.1.2.0/24", status=inv.active)
    Prefix.objects.create(prefix="10.1.3.0/24", status=inv.active)
    ip = IPAddress.objects.create(address="10.1.2.7/24", status=inv.active)
    assert ip.parent is slash24


def test_ip_address_parent_is_none_outside_every_prefix(inv: Inventory) -> None:
    Prefix.objects.create(prefix="10.0.0.0/8", status=inv.active)
    Prefix.objects.create(prefix="::/1", status=inv.active)
    ip = IPAddress.objects.create(address="192.0.2.1/24", status=inv.active)
    assert ip.parent is None


@pytest.mark.parametrize("model, field, value", [
    (Prefix, "prefix", "0.0.0.0/0"), (Prefix, "prefix", "::/0"),
    (IPAddress, "address", "0.0.0.0/0"), (IPAddress, "address", "::/0"),
])
def test_nothing_takes_a_zero_mask(inv: Inventory, model: type, field: str, value: str) -> None:
    with pytest.raises(ValidationError, match="/0 mask"):
        model(**{field: value, "status": inv.active}).validated_save()


def test_ip_address_filters_by_address_string_netaddr_and_host(inv: Inventory) -> None:
    ip = IPAddress.objects.create(address="2001:DB8:0::1/64", status=inv.active)
    assert IPAddress.objects.get(address="2001:db8::1/64") is ip
    assert IPAddress.objects.get(address=netaddr.IPNetwork("2001:db8::1/64")) is ip
    assert IPAddress.objects.get(host="2001:db8::1") is ip
    assert str(ip) == "2001:db8::1/64"


def test_ip_address_assigned_object_is_the_interface(inv: Inventory) -> None:
    eth0 = Interface.objects.get(device=inv.r1, name="eth0")
    ip = IPAddress.objects.create(address="10.0.0.1/24", status=inv.active, assigned_object=eth0)
    assert ip.interface is eth0
    assert list(eth0.ip_addresses) == [ip]
    assert IPAddress.objects.get(assigned_object=eth0) is ip


def test_prefix_child_ips_and_first_available(inv: Inventory) -> None:
    prefix = Prefix.objects.create(prefix="10.0.0.0/29", status=inv.active)
    for text in ("10.0.0.1/29", "10.0.0.2/29", "10.0.1.1/24"):
        IPAddress.objects.create(address=text, status=inv.active)
    assert [str(ip) for ip in prefix.get_child_ips()] == ["10.0.0.1/29", "10.0.0.2/29"]
    assert prefix.get_first_available_ip() == "10.0.0.3/29"
    assert prefix.get_available_ips() == netaddr.IPSet(["10.0.0.3/32", "10.0.0.4/31", "10.0.0.6/32"])


def test_vlan_vid_must_be_in_range(inv: Inventory) -> None:
    with pytest.raises(ValidationError, match="VLAN: vid 4095 is outside 1-4094"):
        VLAN(vid=4095, name="bad", status=inv.active).validated_save()


def test_vlan_vid_is_unique_per_site(inv: Inventory) -> None:
    VLAN.objects.create(vid=10, name="users", site=inv.site, status=inv.active)
    VLAN.objects.create(vid=10, name="users", site=inv.other_site, status=inv.active)
    with pytest.raises(ValidationError, match='VLAN: vid "10" already exists for site "Branch 1"'):
        VLAN(vid=10, name="dup", site=inv.site, status=inv.active).validated_save()


# -- cabling -----------------------------------------------------------------------------------


def test_cable_rejects_incompatible_pair(inv: Inventory) -> None:
    console = ConsolePort.objects.create(device=inv.r1, name="con0")
    outlet = PowerOutlet.objects.create(device=inv.r2, name="outlet1")
    with pytest.raises(ValidationError, match=r"Cable: cannot connect r1 con0 .* to r2 outlet1"):
        Cable(termination_a=console, termination_b=outlet, status=inv.connected).validated_save()


def test_cable_rejects_termination_that_already_has_a_cable(inv: Inventory) -> None:
    a, b = eth0_pair(inv)
    c = Interface.objects.get(device=inv.r1, name="eth1")
    Cable(termination_a=a, termination_b=b, status=inv.connected).validated_save()
    with pytest.raises(ValidationError, match=r"Cable: termination_a r1 eth0 .* already has a cable"):
        Cable(termination_a=a, termination_b=c, status=inv.connected).validated_save()


def test_cable_rejects_connecting_to_itself(inv: Inventory) -> None:
    eth0 = Interface.objects.get(device=inv.r1, name="eth0")
    with pytest.raises(ValidationError, match="to itself"):
        Cable(termination_a=eth0, termination_b=eth0, status=inv.connected).validated_save()


def test_cable_links_both_ends_and_reports_connected_endpoint(inv: Inventory, session: Session) -> None:
    console = ConsolePort.objects.create(device=inv.r1, name="con0")
    server_port = ConsoleServerPort.objects.create(device=inv.r2, name="port1")
    cable = Cable(termination_a=console, termination_b=server_port, status=inv.connected, label="c1")
    cable.validated_save()
    session.expire_all()
    console = ConsolePort.objects.get(pk=console.pk)
    assert console.cable == cable
    assert console.connected_endpoint == server_port
    assert ConsoleServerPort.objects.get(pk=server_port.pk).connected_endpoint == console


def test_connection_status_is_true_for_connected_cable(inv: Inventory) -> None:
    a, b = eth0_pair(inv)
    Cable(termination_a=a, termination_b=b, status=inv.connected).validated_save()
    assert (a.connection_status, b.connection_status) == (True, True)


def test_connection_status_is_false_for_planned_cable(inv: Inventory) -> None:
    a, b = eth0_pair(inv)
    Cable(termination_a=a, termination_b=b, status=inv.planned).validated_save()
    assert a.connection_status is False


def test_connection_status_is_none_without_cable(inv: Inventory) -> None:
    eth0 = Interface.objects.get(device=inv.r1, name="eth0")
    assert (eth0.connection_status, eth0.connected_endpoint) == (None, None)


def test_deleting_a_cable_clears_both_terminations(inv: Inventory) -> None:
    a, b = eth0_pair(inv)
    cable = Cable(termination_a=a, termination_b=b, status=inv.connected)
    cable.validated_save()
    cable.delete()
    assert (a.cable, b.cable) == (None, None)
    assert Interface.objects.filter(cable__isnull=False).count() == 0


def test_deleting_a_port_deletes_its_cable(inv: Inventory) -> None:
    a, b = eth0_pair(inv)
    Cable(termination_a=a, termination_b=b, status=inv.connected).validated_save()
    a.delete()
    assert Cable.objects.count() == 0
    assert b.cable is None


# -- job bookkeeping ---------------------------------------------------------------------------


def _job(**fields: object) -> Job:
    values = {"source": "local", "module_name": "inventory", "job_class_name": "Audit", "grouping": "Audits"}
    values.update(fields)
    values.setdefault("name", "Audit")
    return Job(**values)


def test_sensitive_job_cannot_require_approval(session: Session) -> None:
    with pytest.raises(ValidationError, match="sensitive variables cannot be marked as requiring approval"):
        _job(approval_required=True).validated_save()


def test_job_class_path_and_generated_slug(session: Session) -> None:
    job = _job()
    job.validated_save()
    assert job.class_path == "local/inventory/Audit"
    assert job.slug == "local-inventory-audit"
    assert job.task_queues == []


def test_job_result_duration_and_aware_utc_datetimes(session: Session) -> None:
    created = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    result = JobResult(name="local/inventory/Audit", created=created)
    result.validated_save()
    assert result.duration is None
    result.completed = created + dt.timedelta(minutes=1, seconds=2.5)
    result.validated_save()
    session.expire_all()
    reloaded = JobResult.objects.get(pk=result.pk)
    assert reloaded.created == created and reloaded.created.tzinfo == dt.timezone.utc
    assert reloaded.duration == "1 minutes, 2.50 seconds"


def test_job_log_entries_bulk_insert_with_core(session: Session) -> None:
    result = JobResult.objects.create(name="local/inventory/Audit")
    now = dt.datetime.now(dt.timezone.utc)
    rows = [
        {"id": uuid.uuid4(), "job_result_id": result.id, "seq": seq, "log_level": "info", "grouping": "run",
         "message": f"line {seq}", "created": now, "log_object": None, "object_type": "dcim.site",
         "object_id": None, "absolute_url": None}
        for seq in range(3)
    ]  # fmt: skip
    session.execute(sa.insert(JobLogEntry.__table__), rows)
    assert [entry.message for entry in JobLogEntry.objects.filter(job_result=result)] == ["line 0", "line 1", "line 2"]


def test_job_log_entry_columns_have_server_defaults(session: Session) -> None:
    result = JobResult.objects.create(name="local/inventory/Audit")
    session.execute(sa.insert(JobLogEntry.__table__).values(id=uuid.uuid4(), job_result_id=result.id))
    entry = JobLogEntry.objects.get(job_result=result)
    assert (entry.log_level, entry.grouping, entry.seq, entry.message) == ("default", "main", 0, "")
    assert entry.created.tzinfo == dt.timezone.utc


def test_deleting_a_device_deletes_cables_on_its_ports(inv: Inventory) -> None:
    a, b = eth0_pair(inv)
    Cable(termination_a=a, termination_b=b, status=inv.connected).validated_save()
    inv.r1.delete()
    assert Cable.objects.count() == 0
    assert b.cable is None


def test_moving_a_cable_end_releases_the_old_termination(inv: Inventory) -> None:
    a, b = eth0_pair(inv)
    eth1 = Interface.objects.get(device=inv.r1, name="eth1")
    cable = Cable(termination_a=a, termination_b=b, status=inv.connected)
    cable.validated_save()
    cable.termination_a = eth1
    cable.validated_save()
    assert (a.cable, eth1.cable, b.connected_endpoint) == (None, cable, eth1)


def test_deleting_a_site_with_devices_is_protected(inv: Inventory) -> None:
    with pytest.raises(ProtectedError, match='Site "HQ" cannot be deleted while Device objects reference it'):
        inv.other_site.delete()


def test_deleting_an_unsaved_object_is_rejected(inv: Inventory) -> None:
    with pytest.raises(ValueError, match="never saved"):
        Site(name="Draft", status=inv.active).delete()


def test_select_related_without_names_loads_every_foreign_key(inv: Inventory, session: Session) -> None:
    session.expunge_all()
    device = Device.objects.select_related().get(name="r1")
    assert {"device_type", "device_role", "site", "status", "platform", "tenant"} <= set(sa.inspect(device).dict)


def test_get_or_create_is_undone_by_rolling_back_the_transaction(engine: sa.Engine) -> None:
    with Session(engine, expire_on_commit=False) as session, bind_session(session):
        Tenant.objects.get_or_create(name="Ephemeral")
        session.rollback()
        assert not Tenant.objects.filter(name="Ephemeral").exists()


def test_interface_mode_is_one_of_802_1q_modes_and_status_is_optional(inv: Inventory) -> None:
    interface = Interface(device=inv.r1, name="eth7", mode="trunk")
    with pytest.raises(ValidationError, match="Interface: mode 'trunk' is not one of '', 'access', 'tagged', 'tagged-all'"):
        interface.validated_save()
    interface.mode = "access"
    interface.validated_save()
    assert (interface.status, interface.label) == (None, "")
