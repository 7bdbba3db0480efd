"""The web interface in a real browser (Debian's chromium via Selenium) against a real `jobruntime serve` and worker.

A screenshot of every page at 1280 px and 390 px wide goes to tests/artifacts/.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from jobruntime.models import Job as JobRecord
from jobruntime.models import JobLogEntry, JobResult, User
from tests.bus_support import running_worker
from tests.test_web import stack  # noqa: F401 - the served gateway these tests use

pytestmark = [pytest.mark.bus, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).parent / "artifacts"
WIDTHS = {"wide": (1280, 900), "phone": (390, 844)}
WAIT = 60  # seconds; the machine may be busy


@pytest.fixture
def browser() -> Iterator[object]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium and chromium-driver are missing: `make test` installs them")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch a driver
    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         f"--user-data-dir={profile}"):
            options.add_argument(argument)
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.set_window_size(*WIDTHS["wide"])
        try:
            yield driver
        finally:
            driver.quit()


def screenshots(driver, name: str) -> None:
    """The current page at both widths, back at the wide one afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    for label, size in (("phone", WIDTHS["phone"]), ("wide", WIDTHS["wide"])):
        driver.set_window_size(*size)
        driver.save_screenshot(str(ARTIFACTS / f"{name}-{label}.png"))


def wait_for(driver, condition, message: str):
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    navigating = (NoSuchElementException, StaleElementReferenceException)  # the page may be changing under us

    def checked(driver):
        try:
            return condition(driver)
        except WebDriverException as exc:  # chromium's word for an element of the page a reload just replaced
            if "does not belong to the document" in str(exc):
                return False
            raise

    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.2, ignored_exceptions=navigating).until(checked, message)
    except TimeoutException:
        raise AssertionError(f"{message}; at {driver.current_url}:\n{driver.page_source[:3000]}") from None


def sign_in(driver, base: str, username: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/jobs/")
    assert "/login/" in driver.current_url
    screenshots(driver, "login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: d.current_url == f"{base}/jobs/", "sign-in did not lead to the jobs list")


def test_a_person_signs_in_fills_the_generated_form_and_watches_the_run(stack, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, base = browser, stack.base
    sign_in(driver, base, "bob", stack.tokens["bob"])
    assert [h.text for h in driver.find_elements(By.CSS_SELECTOR, "section h2")] == ["Web Jobs"]
    screenshots(driver, "jobs")

    driver.find_element(By.LINK_TEXT, "Make site").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "id_site_name"), "the job page has no site_name input")
    assert driver.find_element(By.CSS_SELECTOR, ".markdown").text == "Creates a site"
    assert driver.find_element(By.ID, "id_steps").get_attribute("value") == "2"  # the schema's default
    assert driver.find_element(By.ID, "id__commit").is_selected()  # commit_default
    screenshots(driver, "job")

    driver.find_element(By.ID, "id_site_name").send_keys("Browser site")
    steps = driver.find_element(By.ID, "id_steps")
    steps.clear()
    steps.send_keys("9")
    driver.find_element(By.ID, "search_role").send_keys("lea")  # the picker asks the server as the user types
    wait_for(driver, lambda d: [o.text for o in Select(d.find_element(By.ID, "id_role")).options] == ["---------", "Leaf"]
             and Select(d.find_element(By.ID, "id_role")).first_selected_option.text == "Leaf",
             "the object picker did not offer the matching role")
    driver.find_element(By.ID, "search_role").send_keys("x")
    wait_for(driver, lambda d: [o.text for o in Select(d.find_element(By.ID, "id_role")).options] == ["---------", "Leaf"],
             "a search matching nothing must keep the chosen object")
    driver.find_element(By.CSS_SELECTOR, ".run-form button[type=submit]").click()

    error = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#field-steps .error"),
                     "the refused value has no error next to its field")
    assert error[0].text == "Ensure this value is less than or equal to 5."
    assert driver.find_element(By.ID, "id_site_name").get_attribute("value") == "Browser site"  # kept
    assert Select(driver.find_element(By.ID, "id_role")).first_selected_option.text == "Leaf"
    assert not driver.find_elements(By.CSS_SELECTOR, "#field-site_name .error")
    screenshots(driver, "job-refused")

    with running_worker(stack.env):
        for name, value in (("steps", "3"), ("pause", "1500")):  # a run long enough to watch
            field = driver.find_element(By.ID, f"id_{name}")
            field.clear()
            field.send_keys(value)
        driver.find_element(By.CSS_SELECTOR, ".run-form button[type=submit]").click()
        wait_for(driver, lambda d: "/results/" in d.current_url, "a valid run did not open its result page")
        first = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#log tbody tr"), "no log line arrived")
        assert first[0].text.endswith("step 1 of 3")
        assert driver.find_element(By.ID, "status").text in ("pending", "running")  # it arrived live
        wait_for(driver, lambda d: d.find_element(By.ID, "status").text == "completed",
                 "the final status did not arrive")
    wait_for(driver, lambda d: d.find_elements(By.ID, "output"), "the finished page shows no output")
    messages = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#log td.message")]
    assert messages[:4] == ["step 1 of 3", "step 2 of 3", "step 3 of 3", "Created the site"]
    Select(driver.find_element(By.ID, "level")).select_by_value("success")
    shown = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#log tbody tr") if row.is_displayed()]
    assert len(shown) == 1 and shown[0].endswith("Created the site")
    screenshots(driver, "result")

    driver.find_element(By.LINK_TEXT, "Results").click()
    rows = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "tbody tr"), "the results list is empty")
    assert "completed" in rows[0].text and "Make site" in rows[0].text
    screenshots(driver, "results")
    driver.find_element(By.LINK_TEXT, "Approvals").click()
    assert "Nothing is waiting for approval" in driver.find_element(By.CSS_SELECTOR, "main").text
    screenshots(driver, "approvals")


def test_an_admin_edits_a_job_record_and_a_user_without_change_job_cannot(stack, browser):
    from selenium.webdriver.common.by import By

    driver, base = browser, stack.base
    sign_in(driver, base, "admin", stack.tokens["admin"])
    driver.get(f"{base}/jobs/{stack.ids['MakeSite']}/edit/")
    name = driver.find_element(By.ID, "id_name")
    name.clear()
    name.send_keys("Build a site")
    screenshots(driver, "job-edit")
    driver.find_element(By.CSS_SELECTOR, ".edit-form button[type=submit]").click()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Build a site", "the new name is not shown")
    with stack.runtime.session() as session:
        record = session.get(JobRecord, uuid.UUID(stack.ids["MakeSite"]))
        assert (record.name, record.name_override, record.grouping_override) == ("Build a site", True, False)
    bob = web_session(stack, "bob")
    refused = bob.get(f"/jobs/{stack.ids['MakeSite']}/edit/")
    assert refused.status_code == 403 and "You do not have permission to perform this action." in refused.text
    assert refused.headers["content-type"].startswith("text/html")


def web_session(stack, username: str) -> httpx.Client:
    """A signed-in client, as a browser would be after the sign-in form."""
    client = httpx.Client(base_url=stack.base, timeout=30)
    client.post("/login/", params={"next": "/jobs/"}, data={"username": username, "token": stack.tokens[username],
                                                            "csrf_token": csrf_of(client.get("/login/").text)})
    assert "jobruntime_session" in client.cookies
    return client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_session_cookie_is_httponly_and_samesite_lax(stack):
    client = httpx.Client(base_url=stack.base, timeout=30)
    cookie = client.get("/login/").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_a_wrong_token_does_not_sign_in(stack):
    client = httpx.Client(base_url=stack.base, timeout=30)
    answer = client.post("/login/", data={"username": "bob", "token": stack.tokens["admin"],
                                          "csrf_token": csrf_of(client.get("/login/").text)})
    assert answer.status_code == 403 and "do not match" in answer.text
    assert client.get("/jobs/").headers.get("location", "").startswith("/login/") or \
        "/login/" in str(client.get("/jobs/", follow_redirects=True).url)


def test_a_post_without_the_csrf_token_is_refused_and_runs_nothing(stack):
    anonymous = httpx.Client(base_url=stack.base, timeout=30)
    anonymous.get("/login/")
    refused = anonymous.post("/login/", data={"username": "bob", "token": stack.tokens["bob"]})
    assert refused.status_code == 403 and "jobruntime_session" not in refused.headers.get("set-cookie", "x")
    bob = web_session(stack, "bob")
    job_page = f"/jobs/{stack.ids['MakeSite']}/"
    forged = bob.post(job_page, data={"site_name": "Forged", "_commit": "on", "csrf_token": "guessed"})
    assert forged.status_code == 403 and "did not come from this site" in forged.text
    assert bob.post(job_page, data={"site_name": "Forged"}).status_code == 403
    with stack.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(JobResult)) == 0


def test_script_in_a_job_name_description_and_log_message_stays_text(stack, browser):
    from selenium.webdriver.common.by import By

    with stack.runtime.session() as session:
        record = session.get(JobRecord, uuid.UUID(stack.ids["MakeSite"]))
        record.name = "<script>window.pwned = 'name'</script>Make site"
        record.description = "Uses **bold** <script>window.pwned = 'description'</script> [x](javascript:alert(1))"
        bob = session.scalar(select(User).where(User.username == "bob"))
        result = JobResult(name=record.name, job_model=record, user=bob, status="completed")
        session.add(result)
        session.flush()
        session.add(JobLogEntry(job_result_id=result.id, seq=1, log_level="info",
                                message="<script>window.pwned = 'log'</script><b>not bold</b> *emphasis*"))
        session.commit()
        result_id = result.id
    driver = browser
    sign_in(driver, stack.base, "bob", stack.tokens["bob"])
    assert "<script>window.pwned = 'name'</script>Make site" in driver.find_element(By.CSS_SELECTOR, ".jobs").text
    driver.get(f"{stack.base}/jobs/{stack.ids['MakeSite']}/")
    description = driver.find_element(By.CSS_SELECTOR, ".markdown")
    assert description.find_element(By.TAG_NAME, "strong").text == "bold"  # Markdown still renders
    assert "<script>window.pwned = 'description'</script>" in description.text
    assert not description.find_elements(By.CSS_SELECTOR, "a[href^=javascript]")
    driver.get(f"{stack.base}/results/{result_id}/")
    message = driver.find_element(By.CSS_SELECTOR, "#log td.message")
    assert message.text == "<script>window.pwned = 'log'</script><b>not bold</b> emphasis"
    assert not message.find_elements(By.TAG_NAME, "b") and message.find_element(By.TAG_NAME, "em").text == "emphasis"
    assert driver.execute_script("return window.pwned === undefined")


def test_a_browser_session_reads_the_api_but_never_changes_anything_through_it(stack):
    bob = web_session(stack, "bob")
    stream = f"/api/extras/job-results/{uuid.uuid4()}/stream/"
    assert httpx.get(f"{stack.base}{stream}", timeout=30).status_code == 403
    assert bob.get(stream).status_code == 404  # signed in by the cookie: the live log's EventSource needs no token
    run = bob.post(f"/api/extras/jobs/{stack.ids['MakeSite']}/run/", json={"data": {"site_name": "Cookie"}})
    assert (run.status_code, run.json()) == (403, {"detail": "Authentication credentials were not provided."})
    with stack.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(JobResult)) == 0


def test_hidden_jobs_are_listed_only_when_asked_for(stack):
    with stack.runtime.session() as session:
        session.get(JobRecord, uuid.UUID(stack.ids["Elsewhere"])).hidden = True
        session.commit()
    bob = web_session(stack, "bob")
    listed = bob.get("/jobs/").text
    assert "Make site" in listed and "Elsewhere" not in listed
    assert "Elsewhere" in bob.get("/jobs/", params={"hidden": "true"}).text
