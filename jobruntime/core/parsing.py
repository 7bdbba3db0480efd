"""Reading booleans and numbers written as text (environment variables, CLI arguments, stored fields).

One set of spellings for every place a person types a flag, so ``yes`` means
the same in a setting, a job record and a custom field. The functions raise
``ValueError`` with a short reason; each caller wraps it in its own typed
error naming the field.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "off"})


def parse_flag(value: Any) -> bool:
    """``value`` as a boolean: a bool as is, else one of the true or false words in any case and spacing."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def parse_number(value: Any, kind: type[int] | type[float] | None = None) -> int | float:
    """``value`` (a number, or its text) as ``kind`` (int or float), or as written when ``kind`` is None.

    Infinity and NaN are refused: every number jobruntime reads bounds a wait or a size.
    Raises TypeError for a value that is not a number or text, ValueError for text that is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    if kind is int and value != int(value):
        raise ValueError(f"expected a whole number, got {value}")
    return kind(value) if kind else value


def as_uuid(value: Any) -> uuid.UUID | None:
    """``value`` as a UUID when it is one or its text reads as one, else None (a key that then matches nothing)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
