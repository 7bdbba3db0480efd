"""The web interface's session: its signing key, and where a sign-in may send the browser."""

from __future__ import annotations

import logging

import pytest

from jobruntime.core.settings import Settings
from jobruntime.web.ui.session import safe_next, session_middleware


def test_the_session_key_comes_from_jobruntime_web_secret_and_stays_out_of_the_settings_repr(monkeypatch):
    monkeypatch.setenv("JOBRUNTIME_WEB_SECRET", "web-s3cret")
    settings = Settings()
    assert session_middleware(settings).kwargs["secret_key"] == "web-s3cret"
    assert "web-s3cret" not in repr(settings)


def test_without_a_web_secret_each_process_makes_its_own_key_and_says_so(monkeypatch, caplog):
    monkeypatch.delenv("JOBRUNTIME_WEB_SECRET", raising=False)
    with caplog.at_level(logging.WARNING, logger="jobruntime.web.ui.session"):
        first, second = (session_middleware(Settings()).kwargs["secret_key"] for _ in range(2))
    assert first != second and len(first) >= 32
    assert "JOBRUNTIME_WEB_SECRET is not set" in caplog.text


@pytest.mark.parametrize("wanted, landed", [
    ("/results/abc/", "/results/abc/"), (None, "/jobs/"), ("https://evil.example/", "/jobs/"),
    ("//evil.example/", "/jobs/"), ("/\\evil.example", "/jobs/"),
])
def test_after_sign_in_the_browser_only_goes_to_a_path_on_this_site(wanted, landed):
    assert safe_next(wanted) == landed
