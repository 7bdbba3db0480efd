"""The typed input variables a Job class declares as class attributes.

A variable only describes an input: its label, default, whether it is required
and the options of its type. Turning submitted data into the values ``run()``
receives is the job of :mod:`jobruntime.authoring.inputs`, and describing the form for a
UI is the job of :mod:`jobruntime.authoring.form_schema`; both read the options recorded
here, so a variable class never has to know about either.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "ScriptVariable",
    "StringVar",
    "TextVar",
    "IntegerVar",
    "BooleanVar",
    "ChoiceVar",
    "MultiChoiceVar",
    "ObjectVar",
    "MultiObjectVar",
    "FileVar",
    "IPAddressVar",
    "IPAddressWithMaskVar",
    "IPNetworkVar",
    "ordered_variables",
]


class ScriptVariable:
    """Base class of every job input variable.

    ``default`` is kept even when falsy (``0``, ``""``): only ``None`` means
    "no default". Subclasses list their own constructor options in
    ``option_names`` so that readers can get them through :attr:`options`
    without knowing each class.
    """

    option_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        label: str = "",
        description: str = "",
        default: Any = None,
        required: bool = True,
        widget: Any = None,
    ) -> None:
        self.label = label
        self.description = description
        self.default = default
        self.required = required
        self.widget = widget

    @property
    def options(self) -> dict[str, Any]:
        """The options specific to this variable type, by name, in declaration order."""
        return {name: getattr(self, name) for name in self.option_names}

    def __repr__(self) -> str:
        shown = {"label": self.label, "required": self.required, "default": self.default, **self.options}
        arguments = ", ".join(f"{key}={value!r}" for key, value in shown.items() if value not in (None, ""))
        return f"{type(self).__name__}({arguments})"


class StringVar(ScriptVariable):
    """A single line of text.

    ``regex`` is matched with search semantics (``re.search``): anchor it with
    ``^...$`` to require a full match. It is compiled here so that a broken
    pattern fails when the job module is imported, not when a user submits.
    """

    option_names = ("min_length", "max_length", "regex")

    def __init__(
        self,
        min_length: int | None = None,
        max_length: int | None = None,
        regex: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min_length = min_length
        self.max_length = max_length
        self.regex = regex
        self.pattern: re.Pattern[str] | None = None
        if regex is not None:
            try:
                self.pattern = re.compile(regex)
            except re.error as exc:
                raise ValueError(f"StringVar regex {regex!r} is not a valid regular expression: {exc}") from exc


class TextVar(ScriptVariable):
    """Free-form, multi-line text; it takes no length or pattern options."""


class IntegerVar(ScriptVariable):
    """A whole number; both bounds are inclusive and ``0`` is a real bound."""

    option_names = ("min_value", "max_value")

    def __init__(self, min_value: int | None = None, max_value: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_value = min_value
        self.max_value = max_value


class BooleanVar(ScriptVariable):
    """A true/false flag.

    It is never required, whatever the caller passes: an unchecked box submits
    nothing, so "missing" has to mean ``False`` rather than an error.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs["required"] = False
        super().__init__(**kwargs)


def _is_pair(choice: Any) -> bool:
    return not isinstance(choice, (str, bytes)) and isinstance(choice, Sequence) and len(choice) == 2


def _is_group(label: Any) -> bool:
    """A label that is itself a list of pairs: an option group, as Django's choices allow."""
    return not isinstance(label, (str, bytes)) and isinstance(label, Iterable) and all(map(_is_pair, label))


def _choice_pairs(kind: str, choices: Iterable[Any]) -> tuple[tuple[Any, Any], ...]:
    """Copy ``choices`` into ``(value, label)`` pairs and ``(group, pairs)`` groups, rejecting any other shape early."""
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Iterable):
        raise TypeError(f"{kind} choices must be a sequence of (value, label) pairs, not {choices!r}")
    pairs = []
    for choice in choices:
        if not _is_pair(choice):
            raise TypeError(f"{kind} choices must be (value, label) pairs; got {choice!r}")
        value, label = choice
        pairs.append((value, tuple((item[0], item[1]) for item in label) if _is_group(label) else label))
    return tuple(pairs)


class ChoiceVar(ScriptVariable):
    """One value out of fixed ``(value, label)`` choices; values compare as strings.

    A choice may also be an option group, ``(group_label, [(value, label), ...])``,
    as in Django: its pairs are choices, the group label is not.
    """

    option_names = ("choices",)

    def __init__(self, choices: Iterable[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = _choice_pairs(type(self).__name__, choices)

    @property
    def flat_choices(self) -> tuple[tuple[Any, Any, Any], ...]:
        """Every selectable ``(value, label, group label or None)``, in order."""
        flat = []
        for value, label in self.choices:
            if _is_group(label):
                flat.extend((item_value, item_label, value) for item_value, item_label in label)
            else:
                flat.append((value, label, None))
        return tuple(flat)


class MultiChoiceVar(ChoiceVar):
    """Any number of values out of fixed ``(value, label)`` choices."""


class ObjectVar(ScriptVariable):
    """One database object of ``model``.

    ``query_params`` restricts the objects a user may pick, REST style:
    ``{"manufacturer_id": "$manufacturer"}`` refers to another variable of the
    same job. ``null_option`` is the label of a "none" entry; submitting the
    string ``"null"`` then means no object. ``queryset`` is the older spelling
    of ``model`` (deprecated, it warns): its model is used, and the chosen
    object must also be in it.
    """

    option_names = ("model", "display_field", "query_params", "null_option")

    def __init__(
        self,
        model: type | None = None,
        display_field: str = "display",
        query_params: Mapping[str, Any] | None = None,
        null_option: str | None = None,
        queryset: Any = None,
        **kwargs: Any,
    ) -> None:
        if model is None and queryset is not None:
            warnings.warn(
                f"{type(self).__name__}: specifying a queryset is deprecated; pass model= (and query_params) instead",
                DeprecationWarning,
                stacklevel=2,
            )
            model = queryset.model
        else:
            queryset = None  # with a model, as in the reference, a queryset is ignored
        if model is None:
            raise TypeError("ObjectVar must specify a model")
        super().__init__(**kwargs)
        self.model = model
        self.queryset = queryset
        self.display_field = display_field
        self.query_params = dict(query_params or {})
        self.null_option = null_option


class MultiObjectVar(ObjectVar):
    """Any number of database objects of ``model``, with the options of :class:`ObjectVar`."""


class FileVar(ScriptVariable):
    """An uploaded file; ``run()`` gets an object whose ``read()`` returns bytes."""


class IPAddressVar(ScriptVariable):
    """An IPv4 or IPv6 address without a mask."""


class IPAddressWithMaskVar(ScriptVariable):
    """An address with its CIDR mask, host bits allowed (an interface address)."""


class IPNetworkVar(ScriptVariable):
    """A network prefix: mask required, host bits zero, optional prefix-length bounds."""

    option_names = ("min_prefix_length", "max_prefix_length")

    def __init__(
        self,
        min_prefix_length: int | None = None,
        max_prefix_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min_prefix_length = min_prefix_length
        self.max_prefix_length = max_prefix_length


def ordered_variables(job_class: type, field_order: Sequence[str] | None = None) -> dict[str, ScriptVariable]:
    """Return a job's variables by name, in the order its form shows them.

    Parent classes come first, each class in definition order. A subclass that
    redefines a variable keeps the parent's position with its own definition;
    one that hides it behind a plain attribute removes it. Names listed in
    ``field_order`` then move to the front in list order; listed names that are
    not variables are ignored.
    """
    found: dict[str, ScriptVariable] = {}
    for klass in reversed(job_class.__mro__):
        for name, attribute in vars(klass).items():
            if isinstance(attribute, ScriptVariable):
                found[name] = attribute
            elif name in found:
                del found[name]
    if not field_order:
        return found
    ordered = {name: found[name] for name in field_order if name in found}
    ordered.update((name, variable) for name, variable in found.items() if name not in ordered)
    return ordered
