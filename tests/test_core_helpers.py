"""The shared helpers in jobruntime.core: one backoff rule, one reading of flags and numbers, one clock."""

from __future__ import annotations

import datetime as dt

import pytest

from jobruntime.authoring.compat.helpers import is_truthy
from jobruntime.core.backoff import Backoff
from jobruntime.core.clock import utcnow
from jobruntime.core.parsing import FALSE_WORDS, TRUE_WORDS, parse_flag, parse_number
from jobruntime.core.settings import InvalidSetting, Settings
from jobruntime.models import CustomField
from jobruntime.models.errors import ValidationError


def test_backoff_doubles_from_the_first_delay_up_to_its_ceiling():
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_an_immediate_backoff_retries_at_once_then_doubles():
    backoff = Backoff(0.1, 1.0, immediate=True)
    assert [backoff.next() for _ in range(6)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.0]


def test_a_reset_backoff_waits_the_shortest_time_again():
    backoff = Backoff(0.5, 10.0)
    backoff.next(), backoff.next()
    backoff.reset()
    assert backoff.failures == 0 and backoff.next() == 0.5


def test_a_backoff_that_failed_thousands_of_times_stays_at_its_ceiling():
    backoff = Backoff(0.5, 10.0)
    for _ in range(5000):
        delay = backoff.next()
    assert delay == 10.0


@pytest.mark.parametrize("word", sorted(TRUE_WORDS | FALSE_WORDS))
def test_a_flag_reads_the_same_in_settings_custom_fields_and_nautobot_helpers(word):
    expected = word in TRUE_WORDS
    spelled = f" {word.upper()} "
    assert parse_flag(spelled) is expected
    assert Settings(change_logging=spelled).change_logging is expected
    assert CustomField(name="staffed", type="boolean").validate(spelled) is expected
    assert is_truthy(spelled) is expected


def test_a_word_that_is_no_flag_is_refused_with_each_callers_own_message():
    with pytest.raises(ValueError, match="expected true or false, got 'maybe'"):
        parse_flag("maybe")
    with pytest.raises(InvalidSetting, match="JOBRUNTIME_CHANGE_LOGGING: expected true or false"):
        Settings(change_logging="maybe")
    with pytest.raises(ValidationError, match="Value must be true or false."):
        CustomField(name="staffed", type="boolean").validate("maybe")
    with pytest.raises(ValueError, match="invalid truth value 'maybe'"):
        is_truthy("maybe")


@pytest.mark.parametrize(("raw", "kind", "expected"), [("3", int, 3), (" 2.5 ", float, 2.5), ("4.0", int, 4), (7, None, 7)])
def test_a_number_is_read_from_its_text(raw, kind, expected):
    value = parse_number(raw, kind)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("raw", "kind", "problem"), [
    ("abc", None, "expected a number, got 'abc'"),
    ("inf", float, "expected a finite number"),
    ("1.5", int, "expected a whole number, got 1.5"),
])
def test_a_number_that_cannot_bound_a_wait_is_refused(raw, kind, problem):
    with pytest.raises(ValueError, match=problem):
        parse_number(raw, kind)


def test_a_boolean_is_not_a_number():
    with pytest.raises(TypeError):
        parse_number(True)


def test_the_clock_is_aware_utc():
    assert utcnow().tzinfo == dt.timezone.utc
