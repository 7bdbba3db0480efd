"""What ``nautobot.utilities.utils`` provides: the small helpers Nautobot job code imports from it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jobruntime.core.parsing import as_uuid, parse_flag
from jobruntime.core.text import slugify


def is_truthy(value: Any) -> bool:
    """Read a flag the way Nautobot's settings do: ``"true"``, ``"yes"``, ``"on"``, ``"1"`` (any case) are true.

    Raises ValueError for a string that is neither a true nor a false spelling.
    """
    try:
        return parse_flag(value)
    except ValueError:
        raise ValueError(f"invalid truth value {value!r}") from None


def is_uuid(value: Any) -> bool:
    """Whether ``value`` is a UUID or a string that parses as one."""
    return as_uuid(value) is not None


def deepmerge(original: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``new`` laid over ``original``, nested dicts merged key by key rather than replaced."""
    merged = dict(original)
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deepmerge(merged[key], value)
        else:
            merged[key] = value
    return merged


def flatten_dict(value: Mapping[str, Any], prefix: str = "", separator: str = "__") -> dict[str, Any]:
    """Nested keys joined with ``separator`` (``{"a": {"b": 1}}`` becomes ``{"a__b": 1}``), as filters spell them."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{separator}{key}" if prefix else str(key)
        if isinstance(item, Mapping):
            flat.update(flatten_dict(item, name, separator))
        else:
            flat[name] = item
    return flat


def array_to_string(values: Iterable[int]) -> str:
    """Integers as ranges, the way Nautobot shows VLAN ids: ``[1, 2, 3, 10]`` becomes ``"1-3, 10"``."""
    ordered = sorted(set(values))
    groups: list[list[int]] = []
    for number in ordered:
        if groups and number == groups[-1][-1] + 1:
            groups[-1].append(number)
        else:
            groups.append([number])
    return ", ".join(f"{g[0]}-{g[-1]}" if len(g) > 1 else str(g[0]) for g in groups)


__all__ = ["array_to_string", "deepmerge", "flatten_dict", "is_truthy", "is_uuid", "slugify"]
