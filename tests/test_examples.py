"""The example jobs in jobs/, run against the sample inventory from `jobruntime demo`."""

from __future__ import annotations

from pathlib import Path

import netaddr
import pytest
from sqlalchemy import select

from jobruntime.authoring.discovery import load_job_class
from jobruntime.models import Device, IPAddress, Prefix, Site, bind_session
from jobruntime.store.demo import load_demo_data
from jobruntime.testing import run_job_for_testing

JOBS = Path(__file__).parent.parent / "jobs"


@pytest.fixture
def demo(runtime):
    with runtime.session() as session:
        load_demo_data(session)
        session.commit()
    return runtime


def run_example(runtime, class_path, **kwargs):
    return run_job_for_testing(load_job_class(class_path, JOBS), runtime=runtime, **kwargs)


def logged(result):
    return [(e.grouping, e.log_level, e.log_object, e.message) for e in sorted(result.logs, key=lambda e: e.seq)]


def test_demo_data_loads_once(runtime):
    with runtime.session() as session:
        first = load_demo_data(session)
        session.commit()
        again = load_demo_data(session)
    assert first["Device"] == 6 and first["Cable"] == 7
    assert again == {}


def test_new_branch_creates_site_and_switches_and_returns_csv(demo):
    result = run_example(
        demo, "local/new_branch/NewBranch",
        data={"site_name": "Branch 42", "switch_count": 2, "manufacturer": {"name": "Cisco"},
              "switch_model": {"model": "Catalyst 9300-48P"}},
    )
    assert result.status == "completed", logged(result)
    assert result.data["output"] == (
        "\nname,make,model\nbranch-42-switch1,Cisco,Catalyst 9300-48P\nbranch-42-switch2,Cisco,Catalyst 9300-48P"
    )
    assert logged(result) == [
        ("run", "success", "Branch 42", "Created new site"),
        ("run", "success", "branch-42-switch1", "Created new switch"),
        ("run", "success", "branch-42-switch2", "Created new switch"),
    ]
    with demo.session() as session, bind_session(session):
        site = Site.objects.get(name="Branch 42")
        assert site.slug == "branch-42" and site.status.slug == "planned"
        assert Device.objects.filter(site=site).count() == 2


def test_new_branch_enforces_the_manufacturer_query_param(demo):
    result = run_example(
        demo, "local/new_branch/NewBranch",
        data={"site_name": "Branch 43", "switch_count": 1, "manufacturer": {"name": "Arista"},
              "switch_model": {"model": "Catalyst 9300-48P"}},
    )
    assert result.status == "errored"
    assert "switch_model:" in result.logs[0].message


def test_device_connections_report_finds_each_problem(demo):
    result = run_example(demo, "local/device_connections/DeviceConnectionsReport")
    assert result.status == "failed"
    lines = logged(result)
    console = [line for line in lines if line[0] == "test_console_connection"]
    power = [line for line in lines if line[0] == "test_power_connections"]
    assert sorted(console) == sorted([
        ("test_console_connection", "failure", "hq-core1", "No console connection defined for Console"),
        ("test_console_connection", "success", "hq-rtr1", "None"),
        ("test_console_connection", "warning", "hq-rtr2", "Console connection for Console marked as planned"),
    ])
    assert sorted(power) == sorted([
        ("test_power_connections", "failure", "hq-core1", "1 connected power supplies found (2 needed)"),
        ("test_power_connections", "success", "hq-rtr1", "None"),
        ("test_power_connections", "warning", "hq-rtr2", "Power connection for PSU2 marked as planned"),
        ("test_power_connections", "success", "hq-rtr2", "None"),
    ])


def test_router_loopbacks_flags_the_router_without_an_address(demo):
    result = run_example(demo, "local/data_quality/RouterLoopbacks")
    assert result.status == "failed"
    assert sorted(logged(result)) == [
        ("test_router_loopbacks", "failure", "hq-rtr2", "Loopback Loopback0 has no IP address"),
        ("test_router_loopbacks", "success", "hq-rtr1", "Loopback0 has 10.255.0.1/32"),
    ]


def test_ip_address_parents_flags_the_orphan(demo):
    result = run_example(demo, "local/data_quality/IPAddressParents")
    assert result.status == "failed"
    failures = [line for line in logged(result) if line[1] == "failure"]
    assert failures == [("test_parent_prefixes", "failure", "198.51.100.7/24", "No parent prefix")]
    assert ("test_parent_prefixes", "success", "10.255.0.1/32", "Parent prefix 10.255.0.0/24") in logged(result)


def _prefix_pk(runtime, cidr):
    with runtime.session() as session, bind_session(session):
        return str(Prefix.objects.get(prefix=netaddr.IPNetwork(cidr)).pk)


def test_reserve_prefixes_skips_used_space(demo):
    result = run_example(
        demo, "local/reservations/ReservePrefixes",
        data={"parent": _prefix_pk(demo, "10.0.0.0/8"), "prefix_length": 16, "count": 2},
    )
    assert result.status == "completed", logged(result)
    assert result.data["output"] == "\n10.0.0.0/16\n10.2.0.0/16"
    with demo.session() as session:
        statuses = {
            str(p.prefix): p.status.slug for p in session.scalars(select(Prefix))
        }
    assert statuses["10.2.0.0/16"] == "reserved"


def test_reserve_ip_addresses_skips_used_and_network_addresses(demo):
    result = run_example(
        demo, "local/reservations/ReserveIPAddresses",
        data={"prefix": _prefix_pk(demo, "192.0.2.0/24"), "count": 3, "description": "lab"},
    )
    assert result.status == "completed", logged(result)
    assert result.data["output"] == "\n192.0.2.3/24\n192.0.2.4/24\n192.0.2.5/24"
    with demo.session() as session:
        reserved = [str(ip.address) for ip in session.scalars(select(IPAddress)) if ip.status.slug == "reserved"]
    assert sorted(reserved) == ["192.0.2.3/24", "192.0.2.4/24", "192.0.2.5/24"]


def test_reserve_prefixes_reports_when_space_runs_out(demo):
    result = run_example(
        demo, "local/reservations/ReservePrefixes",
        data={"parent": _prefix_pk(demo, "10.255.0.0/24"), "prefix_length": 25, "count": 3},
    )
    assert result.status == "failed"
    assert logged(result)[-1][3] == "Only 2 free /25 prefixes in 10.255.0.0/24; 3 requested"
