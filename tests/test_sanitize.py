"""Secret redaction in log text: the reference cases, plus the fast path's equivalence."""

from __future__ import annotations

import logging
import random
import re
import time

import pytest

from jobruntime.core.sanitize import Sanitizer, sanitize
from jobruntime.core.settings import DEFAULT_SANITIZER_PATTERNS, REFERENCE_SANITIZER_PATTERNS

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
    ("passwords are x", "passwords are x"),
    ("ssh admin@10.1.1.1", "ssh (redacted)@10.1.1.1"),
    ("user@example.com", "(redacted)@example.com"),
]


CREDENTIAL_CASES = [
    ("password=x", "password=(redacted)"),
    ("password:x", "password:(redacted)"),
    ("pwd=abc", "pwd=(redacted)"),
    ("token: 0123456789abcdef", "token: (redacted)"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Authorization: Bearer (redacted)"),
    ('curl -H "Authorization: Token 0123abcd" https://nb', 'curl -H "Authorization: Token (redacted)" https://nb'),
    ("authorization=Basic dXNlcjpwYXNz", "authorization=Basic (redacted)"),
    ("api_key=AKIAIOSFODNN7", "api_key=(redacted)"),
    ("GET /devices?apikey=abc&limit=5", "GET /devices?apikey=(redacted)&limit=5"),
    ("secret: s3cr3t", "secret: (redacted)"),
    ('{"password": "two words", "client_secret": "c"}', '{"password": "(redacted)", "client_secret": "(redacted)"}'),
    ("private_key='k e y'", "private_key='(redacted)'"),
    ("enable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0", "enable secret (redacted)"),
    ("enable password cisco123", "enable password (redacted)"),
    ("username admin privilege 15 secret 9 $9$nhEmQVczB7dqsO", "username (redacted) privilege 15 secret (redacted)"),
    ("line vty 0 4\n password 7 0822455D0A16", "line vty 0 4\n password (redacted)"),
    ("snmp-server community n0tpublic RO", "snmp-server community (redacted) RO"),
]

# Words near the shapes that are not credentials stay as they are.
KEPT_CASES = [
    "the secret santa list",
    "token_sha256_prefix 1a2b3c4d",
    "Enter the username\n```",
    "password\n~~~",
    "no credentials here",
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


@pytest.mark.parametrize(("text", "expected"), CREDENTIAL_CASES)
def test_common_credential_shapes_are_redacted_by_default(text: str, expected: str) -> None:
    assert sanitize(text) == expected


@pytest.mark.parametrize("text", KEPT_CASES)
def test_words_near_credential_shapes_are_kept(text: str) -> None:
    assert sanitize(text) == text


def test_only_the_reference_patterns_apply_when_the_patterns_are_set_to_them() -> None:
    reference_only = Sanitizer(REFERENCE_SANITIZER_PATTERNS)
    assert reference_only("password:hunter2 token: t") == "password:hunter2 token: t"
    assert reference_only("Password is1234") == "Password (redacted)"


@pytest.mark.parametrize("text", [case for case, _ in REFERENCE_CASES + EXTRA_CASES + CREDENTIAL_CASES])
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
              "http://", "x", "1", "ſ", "é", "\t", "secret", "is:", "\n",
              "=", "token", "TOKEN", "key", "api_", "K", "\u212a", "enable ", "community", "snmp-server ",
              "Authorization", "Bearer ", "5 ", '"', "'", "```"]
    generator = random.Random(20240601)
    for _ in range(5000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 12)))
        assert sanitize(text) == _slow_reference(text), text


NAUTOBOT_URL_PATTERN = r"(?i)(https?://)?\S+\s*@"


def test_the_url_pattern_redacts_exactly_what_the_reference_pattern_does():
    pieces = ["a", "B", "@", "@@", " ", "\t", "\n", "http://", "HTTPS://", "x:y", ".", "ſ"]
    generator = random.Random(20261205)
    for _ in range(20000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 14)))
        expected = re.sub(NAUTOBOT_URL_PATTERN, r"\1(redacted)@", text)
        assert Sanitizer(REFERENCE_SANITIZER_PATTERNS[:1])(text) == expected, text


def test_a_long_word_before_an_at_sign_is_redacted_in_linear_time():
    started = time.monotonic()
    assert sanitize("x" * 200_000 + " y @") == "x" * 200_000 + " (redacted)@"
    assert time.monotonic() - started < 5  # the reference pattern takes minutes here
