"""Secret redaction in log text: the reference cases, plus the fast path's equivalence."""

from __future__ import annotations

import logging
import random
import re

import pytest

from jobruntime.core.sanitize import Sanitizer, sanitize
from jobruntime.core.settings import DEFAULT_SANITIZER_PATTERNS

REFERENCE_CASES = [
    ("http://user:password@localhost", "http://(redacted)@localhost"),
    ("HTTPS://:password@EXAMPLE.COM", "HTTPS://(redacted)@EXAMPLE.COM"),
    ("username myusername, password mypassword", "username (redacted) password (redacted)"),
    ("Username: me Password: you", "Username: (redacted) Password: (redacted)"),
    ("My username is someuser", "My username is (redacted)"),
    ("My password is: supersecret!123", "My password is: (redacted)"),
    (
        "I use username FOO and password BAR to log in as https://FOO:BAR@example.com",
        "I use username (redacted) and password (redacted) to log in as https://(redacted)@example.com",
    ),
    ("Password is1234", "Password (redacted)"),
    ("Password: is1234", "Password: (redacted)"),
    ("Password is: is1234", "Password is: (redacted)"),
    ("Password is is1234", "Password is (redacted)"),
]

EXTRA_CASES = [
    ("password:hunter2", "password:hunter2"),
    ("pwd=abc", "pwd=abc"),
    ("passwords are x", "passwords are x"),
    ("ssh admin@10.1.1.1", "ssh (redacted)@10.1.1.1"),
    ("user@example.com", "(redacted)@example.com"),
]


def _slow_reference(text: str, replacement: str = "(redacted)") -> str:
    """The patterns applied with no pre-check at all, as the reference does."""
    for regex, template in DEFAULT_SANITIZER_PATTERNS:
        text = re.sub(regex, template.format(replacement=replacement), text)
    return text


@pytest.mark.parametrize(("text", "expected"), REFERENCE_CASES)
def test_reference_cases_are_redacted(text: str, expected: str) -> None:
    assert sanitize(text) == expected


@pytest.mark.parametrize(("text", "expected"), EXTRA_CASES)
def test_extra_behaviours_of_the_default_patterns(text: str, expected: str) -> None:
    assert sanitize(text) == expected


@pytest.mark.parametrize("text", [case for case, _ in REFERENCE_CASES + EXTRA_CASES])
def test_sanitizing_twice_equals_sanitizing_once(text: str) -> None:
    assert sanitize(sanitize(text)) == sanitize(text)


def test_custom_replacement_text_is_used() -> None:
    assert sanitize("password secret", replacement="***") == "password ***"


@pytest.mark.parametrize("replacement", [r"\1", r"\g<1>", r"x\2y", r"\g<name>"])
def test_back_reference_in_replacement_is_refused(replacement: str) -> None:
    with pytest.raises(ValueError, match="back-reference"):
        sanitize("password secret", replacement=replacement)


def test_other_backslashes_in_replacement_are_literal() -> None:
    assert sanitize("password secret", replacement=r"\n") == r"password \n"


def test_custom_patterns_apply_in_order() -> None:
    sanitizer = Sanitizer([(r"token=(\w+)", "token={replacement}"), (r"\(gone\)", "[{replacement}]")])
    assert sanitizer("token=abc", replacement="(gone)") == "token=[(gone)]"


def test_custom_patterns_are_not_skipped_by_the_fast_path() -> None:
    sanitizer = Sanitizer([(r"secret-\d+", "{replacement}")])
    assert sanitizer("id secret-42 ok") == "id (redacted) ok"


def test_pattern_that_does_not_compile_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jobruntime.core.sanitize"):
        sanitizer = Sanitizer([(r"(unclosed", "{replacement}"), (r"secret", "{replacement}")])
    assert "(unclosed" in caplog.text
    assert sanitizer("a secret") == "a (redacted)"


def test_template_with_unknown_group_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jobruntime.core.sanitize"):
        sanitizer = Sanitizer([(r"secret", r"\3{replacement}"), (r"key", "{other}")])
    assert sanitizer("secret key") == "secret key"
    assert caplog.text.count("Skipping sanitizer pattern") == 2


def test_settings_patterns_given_as_lists_work() -> None:
    sanitizer = Sanitizer([list(pair) for pair in DEFAULT_SANITIZER_PATTERNS])  # type: ignore[misc]
    assert sanitizer("Password is1234") == "Password (redacted)"


def test_replacement_that_creates_a_keyword_is_still_checked_by_later_patterns() -> None:
    # The first pattern writes "password" into the text; the second must see it.
    assert sanitize("me@host x", replacement="password") == _slow_reference("me@host x", "password")


@pytest.mark.parametrize(
    "text",
    [
        "no secrets here",
        "uſername someone",  # U+017F matches "s" case-insensitively
        "PASSWORD hunter2",
        "pAsSwD: x",
        "PWD is abc",
        "a@b",
        "",
        "ümlaut user name",
        "Connected to 10.0.0.1 as USER admin",
    ],
)
def test_fast_path_gives_the_same_result_as_the_plain_patterns(text: str) -> None:
    assert sanitize(text) == _slow_reference(text)


def test_fast_path_equivalence_on_random_text() -> None:
    pieces = ["user", "USER", "name", "pass", "Pass", "word", "wd", "pwd", "PwD", "is", ":", " ", "  ", "@",
              "http://", "x", "1", "ſ", "é", "\t", "secret", "is:", "\n"]
    generator = random.Random(20240601)
    for _ in range(5000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 12)))
        assert sanitize(text) == _slow_reference(text), text
