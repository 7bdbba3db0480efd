"""Redaction of secrets (credentials in URLs, "password: x") from job log text.

It runs on every log message, ``log_object`` and the job output, so the
regexes are compiled once and the default patterns are skipped outright when a
cheap substring test proves they cannot match.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jobruntime.core.settings import DEFAULT_SANITIZER_PATTERNS

__all__ = ["Sanitizer", "sanitize"]

logger = logging.getLogger(__name__)

DEFAULT_REPLACEMENT = "(redacted)"

_BACK_REFERENCE = re.compile(r"\\(\d|g<[^>]*>)")
_CREDENTIAL_WORDS = ("user", "pass", "pwd")


def _has_at_sign(text: str) -> bool:
    return "@" in text


def _may_name_a_credential(text: str) -> bool:
    # Case-insensitive matching also folds some non-ASCII letters onto ASCII
    # ones (U+017F "long s" matches "s"), so only ASCII text can be ruled out.
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(word in lowered for word in _CREDENTIAL_WORDS)


# For each default regex, a test that is true whenever the regex could match:
# the URL/userinfo pattern needs an "@", the keyword pattern needs one of the
# words "user(name)", "pass(word|wd)" or "pwd".
_GUARDS: dict[str, Callable[[str], bool]] = {
    DEFAULT_SANITIZER_PATTERNS[0][0]: _has_at_sign,
    DEFAULT_SANITIZER_PATTERNS[1][0]: _may_name_a_credential,
}


def _always(text: str) -> bool:
    return True


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    template: str
    guard: Callable[[str], bool]

    def apply(self, text: str, replacement: str) -> str:
        if not self.guard(text):
            return text
        return self.regex.sub(self.template.format(replacement=replacement), text)


class Sanitizer:
    """Apply ``(regex, replacement_template)`` pairs, in order, to a string.

    ``{replacement}`` in a template stands for the text that replaces a secret.
    A pair whose regex or template is broken is logged and skipped, so one bad
    setting never stops jobs from logging.
    """

    def __init__(self, patterns: Sequence[tuple[str, str]]) -> None:
        self._rules: list[_Rule] = []
        for regex, template in patterns:
            try:
                compiled = re.compile(regex)
                compiled.sub(template.format(replacement=DEFAULT_REPLACEMENT), "")
            except (re.error, KeyError, IndexError, ValueError) as exc:
                logger.warning("Skipping sanitizer pattern %r with replacement %r: %s", regex, template, exc)
                continue
            self._rules.append(_Rule(compiled, template, _GUARDS.get(regex, _always)))

    def __call__(self, string: str, replacement: str = DEFAULT_REPLACEMENT) -> str:
        """Return ``string`` with every secret the patterns find replaced by ``replacement``.

        Raises ValueError when ``replacement`` holds a back-reference (``\\1``,
        ``\\g<1>``): it would copy the secret back into the text. Any other
        backslash in ``replacement`` is kept literally.
        """
        if _BACK_REFERENCE.search(replacement):
            raise ValueError(
                f"The sanitizer replacement {replacement!r} contains a back-reference such as \\1 or \\g<1>, "
                "which would put the secret back; use plain text."
            )
        literal = replacement.replace("\\", "\\\\")
        for rule in self._rules:
            string = rule.apply(string, literal)
        return string


_default_sanitizer = Sanitizer(DEFAULT_SANITIZER_PATTERNS)


def sanitize(string: str, replacement: str = DEFAULT_REPLACEMENT) -> str:
    """Redact ``string`` with the default patterns of :mod:`jobruntime.core.settings`."""
    return _default_sanitizer(string, replacement)
