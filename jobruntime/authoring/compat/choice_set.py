"""The ``ChoiceSet`` shape of Nautobot's choice classes: constants plus ``CHOICES`` pairs."""

from __future__ import annotations

from typing import Any, ClassVar


class ChoiceSet:
    """Constants named ``TYPE_X`` / ``STATUS_X``..., and ``CHOICES``: ``(value, label)`` pairs or option groups."""

    CHOICES: ClassVar[tuple[Any, ...]] = ()

    @classmethod
    def flat_choices(cls) -> list[tuple[str, str]]:
        """Every ``(value, label)`` pair, option groups flattened."""
        flat: list[tuple[str, str]] = []
        for value, label in cls.CHOICES:
            if isinstance(label, (list, tuple)):
                flat.extend(label)
            else:
                flat.append((value, label))
        return flat

    @classmethod
    def values(cls) -> list[str]:
        return [value for value, _label in cls.flat_choices()]

    @classmethod
    def as_dict(cls) -> dict[str, str]:
        return dict(cls.flat_choices())
