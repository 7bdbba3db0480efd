"""Schedules and the approval queue in the web interface: a real browser and `jobruntime serve`, a real worker."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from sqlalchemy import func, select

from jobruntime.models import JobResult, ScheduledJob
from tests.bus_support import running_worker, wait_for_result
from tests.test_web import api, run_url, stack  # noqa: F401 - the served gateway
from tests.test_web_ui import browser, csrf_of, screenshots, sign_in, wait_for, web_session  # noqa: F401

pytestmark = [pytest.mark.bus, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]


def test_a_request_waits_in_the_queue_and_an_approver_approves_it_from_the_page(stack, browser):
    from selenium.webdriver.common.by import By

    driver, base = browser, stack.base
    sign_in(driver, base, "carol", stack.tokens["carol"])
    driver.find_element(By.LINK_TEXT, "Needs approval").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "id__schedule_interval"), "the run form has no schedule fields")
    screenshots(driver, "job-schedule")
    driver.find_element(By.CSS_SELECTOR, ".run-form button[type=submit]").click()
    wait_for(driver, lambda d: d.current_url == f"{base}/approvals/", "a run needing approval did not open the queue")
    assert driver.find_element(By.CSS_SELECTOR, ".approval button.deny").text == "Withdraw"  # her own request
    with stack.runtime.session() as session:
        schedule_id = session.scalar(select(ScheduledJob.id))
        assert session.scalar(select(func.count()).select_from(JobResult)) == 0

    driver.delete_all_cookies()
    sign_in(driver, base, "admin", stack.tokens["admin"])
    driver.get(f"{base}/approvals/")
    card = driver.find_element(By.ID, f"schedule-{schedule_id}")
    assert "carol" in card.text and card.find_element(By.CSS_SELECTOR, "pre.input").text == "{}"
    screenshots(driver, "approvals")
    with running_worker(stack.env):
        card.find_element(By.CSS_SELECTOR, "button.approve").click()
        notice = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice"), "no notice after approving")
        assert notice[0].text.endswith("approved")
        assert "Nothing is waiting for approval." in driver.page_source
        deadline = dt.datetime.now() + dt.timedelta(seconds=60)
        while dt.datetime.now() < deadline:  # the worker's supervisor fires it within a tick
            with stack.runtime.session() as session:
                run = session.scalar(select(JobResult).where(JobResult.schedule_id == schedule_id))
            if run is not None:
                break
            time.sleep(0.2)
        assert run is not None, "the approved schedule never ran"
        finished = wait_for_result(stack.runtime, run.id, timeout=60)
    assert finished.status == "completed"
    driver.get(f"{base}/schedules/")
    assert "Needs approval" in driver.find_element(By.ID, f"schedule-{schedule_id}").text
    screenshots(driver, "schedules")
    with stack.runtime.session() as session:
        assert session.get(JobResult, run.id).user.username == "carol"  # it runs as its requester
        assert session.get(ScheduledJob, schedule_id).approved_by_user.username == "admin"


def test_schedule_fields_of_the_form_make_a_schedule_or_show_the_apis_message_by_the_field(stack):
    bob = web_session(stack, "bob")
    job_page = f"/jobs/{stack.ids['MakeSite']}/"
    csrf = csrf_of(bob.get(job_page).text)
    nameless = bob.post(job_page, data={"site_name": "Later", "_schedule_interval": "daily", "csrf_token": csrf,
                                        "_schedule_start_time": "2099-01-01T08:00"})
    assert nameless.status_code == 400
    assert 'id="field-_schedule_name"' in nameless.text
    assert "Please provide a name for the job schedule." in nameless.text.split('id="field-_schedule_name"')[1].split(
        'id="field-')[0]
    made = bob.post(job_page, data={"site_name": "Later", "_schedule_interval": "daily", "csrf_token": csrf,
                                    "_schedule_name": "Every morning", "_schedule_start_time": "2099-01-01T08:00"})
    assert (made.status_code, made.headers["location"]) == (303, "/schedules/")
    listed = bob.get("/schedules/").text
    assert "Every morning" in listed and "2099-01-01 08:00:00" in listed
    with stack.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(JobResult)) == 0
        assert session.scalar(select(ScheduledJob.data)) == {"site_name": "Later"}


def test_approval_buttons_need_the_csrf_token_and_a_past_one_off_asks_to_confirm(stack):
    schedule_id = api(stack, "POST", run_url(stack, "NeedsApproval"), user="carol", json={"schedule": {
        "interval": "future", "name": "Soon", "start_time": (dt.datetime.now(dt.timezone.utc)
                                                             + dt.timedelta(minutes=5)).isoformat()}}).json()["schedule"]["id"]
    with stack.runtime.session() as session:
        session.get(ScheduledJob, uuid.UUID(schedule_id)).start_time = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        session.commit()
    admin = web_session(stack, "admin")
    action = f"/approvals/{schedule_id}/approve/"
    assert admin.post(action, data={"csrf_token": "guessed"}).status_code == 403
    csrf = csrf_of(admin.get("/approvals/").text)
    past = admin.post(action, data={"csrf_token": csrf})
    assert past.status_code == 400 and "start time is in the past" in past.text and "Approve and run now" in past.text
    confirmed = admin.post(action, data={"csrf_token": csrf, "force": "1"})
    assert confirmed.status_code == 303 and confirmed.headers["location"].startswith("/approvals/?done=")
    with stack.runtime.session() as session:
        assert session.get(ScheduledJob, uuid.UUID(schedule_id)).approved_at is not None
    bob = web_session(stack, "bob")
    refused = bob.post(f"/approvals/{uuid.uuid4()}/deny/", data={"csrf_token": csrf_of(bob.get("/approvals/").text)})
    assert refused.status_code == 404
