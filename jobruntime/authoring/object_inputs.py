"""Load the database objects that ObjectVar and MultiObjectVar inputs name.

This is the second pass of :func:`jobruntime.authoring.inputs.validate_data`: the first
pass has checked each value's shape and left an :class:`ObjectRef` (a pk or a
dict of lookups) or :class:`ObjectRefs` (a list of pks) in its place. Here
they become model instances, queried through the session bound by
``bind_session()``, and each variable's ``query_params`` is enforced. A
requester chooses only among the rows :mod:`jobruntime.authoring.visibility` lets them
see, and their lookups never lead into bookkeeping tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from jobruntime.authoring.variables import MultiObjectVar, ObjectVar, ScriptVariable
from jobruntime.authoring.visibility import NotSelectable, refused_lookup, visible_objects
from jobruntime.core.errors import RefusalError
from jobruntime.core.limits import quote_items, quote_json
from jobruntime.core.parsing import as_uuid
from jobruntime.models import FieldError, QuerySet, User, current_session
from jobruntime.models import ValidationError as ModelValidationError
from jobruntime.store.prebuilt import connection_lost

__all__ = ["ObjectProblem", "ObjectRef", "ObjectRefs", "offered_filters", "resolve_objects"]


@dataclass(frozen=True)
class ObjectRef:
    """One object named either by ``pk`` (as submitted) or by ORM ``lookups``."""

    pk: Any = None
    lookups: dict[str, Any] | None = None


@dataclass(frozen=True)
class ObjectRefs:
    """Several objects named by pk, in the order the user gave them."""

    pks: list[Any] = field(default_factory=list)


class ObjectProblem(NamedTuple):
    """Why an object variable's value was refused: variable name, rule name, message."""

    variable: str
    rule: str
    message: str


class _Rejected(RefusalError):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def _render(mapping: Mapping[str, Any]) -> str:
    """Show lookups and filters in messages as a user writes them, in JSON, shortened when long."""
    return quote_json(mapping)


def _is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list)) and not value)


def _by_pk(objects: QuerySet[Any], pks: list[Any]) -> dict[uuid.UUID, Any]:
    """The objects with these pks, in one query; a pk that is not a UUID matches nothing."""
    wanted = {pk for pk in map(as_uuid, pks) if pk is not None}
    return {obj.pk: obj for obj in objects.filter(pk__in=list(wanted))} if wanted else {}


def _fetch_one(objects: QuerySet[Any], ref: ObjectRef) -> Any:
    model = objects.model
    if ref.lookups is None:
        found = _by_pk(objects, [ref.pk]).get(as_uuid(ref.pk))
        if found is None:
            raise _Rejected("not_found", f"No {model.__name__} matches pk {ref.pk}.")
        return found
    refusal = refused_lookup(model, ref.lookups)
    if refusal is not None:
        raise _Rejected("lookup", refusal)
    # The lookups come from the user: a database error they provoke must not
    # abort the caller's transaction, so they run inside a savepoint.
    try:
        with current_session().begin_nested():
            query = objects.filter(**ref.lookups)
            matches = list(query[:2])
            count = query.count() if len(matches) > 1 else len(matches)
    except (FieldError, ModelValidationError) as exc:
        raise _Rejected("lookup", str(exc)) from exc
    except (StatementError, OverflowError) as exc:  # sqlite3 raises OverflowError for a huge integer itself
        if connection_lost(exc):
            raise  # the database's fault, not the lookup's
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise _Rejected("lookup", f"The lookup {_render(ref.lookups)} could not be run: {reason}") from exc
    if count == 0:
        raise _Rejected("not_found", f"No {model.__name__} matches {_render(ref.lookups)}.")
    if count > 1:
        raise _Rejected(
            "multiple",
            f"{count} {model.__name__} objects match {_render(ref.lookups)}; a lookup must match exactly one.",
        )
    return matches[0]


def _fetch_many(name: str, objects: QuerySet[Any], ref: ObjectRefs) -> list[Any]:
    found = _by_pk(objects, ref.pks)
    missing = [pk for pk in ref.pks if as_uuid(pk) not in found]
    if missing:
        shown = quote_items(missing)
        raise _Rejected("not_found", f"Failed to find requested objects for var {name}: [{shown}]")
    return list({as_uuid(pk): found[as_uuid(pk)] for pk in ref.pks}.values())  # in order, each object once


def _query_filters(
    variable: ObjectVar, variables: Mapping[str, ScriptVariable], cleaned: Mapping[str, Any], failed: set[str]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(ORM filters, the same filters as the user wrote them)`` from ``query_params``.

    ``foo_id`` names the relation ``foo`` when the model has one (REST style);
    ``$name`` stands for variable ``name``'s value (an object becomes its pk, a
    list a ``__in`` filter) and its filter is dropped when that value is empty.
    ``None`` means a referenced variable is invalid itself, so no check can be
    made; that variable already carries its own error.
    """
    relations = sa.inspect(variable.model).relationships.keys()
    filters, shown = {}, {}
    for key, wanted in variable.query_params.items():
        if isinstance(wanted, str) and wanted.startswith("$"):
            source = wanted[1:]
            if source not in variables:
                raise _Rejected(
                    "query_params", f"query_params refers to ${source}, which is not a variable of this job."
                )
            if source in failed:
                return None
            wanted = cleaned[source]
            if _is_unset(wanted):
                continue
            if isinstance(wanted, list):
                wanted = [getattr(item, "pk", item) for item in wanted]
            else:
                wanted = getattr(wanted, "pk", wanted)
        lookup = key[:-3] if key.endswith("_id") and key[:-3] in relations else key
        if isinstance(wanted, (list, tuple)):
            lookup = f"{lookup}__in"
        filters[lookup] = wanted
        shown[key] = wanted
    return filters, shown


def offered_filters(
    variable: ObjectVar, variables: Mapping[str, ScriptVariable], values: Mapping[str, Any]
) -> dict[str, Any]:
    """The ORM filters ``query_params`` put on the objects a form offers, given the other fields' values now.

    A picker shows only what validation will accept; a ``$name`` whose field is
    still empty drops its filter, as validation does.
    """
    rules = _query_filters(variable, variables, {name: values.get(name) for name in variables}, set())
    return rules[0] if rules else {}


def _outside_query_params(
    variable: ObjectVar,
    chosen: list[Any],
    variables: Mapping[str, ScriptVariable],
    cleaned: Mapping[str, Any],
    failed: set[str],
) -> list[_Rejected]:
    rules = _query_filters(variable, variables, cleaned, failed)
    if rules is None or not rules[0] or not chosen:
        return []
    filters, shown = rules
    try:
        query = variable.model.objects.filter(pk__in=[obj.pk for obj in chosen], **filters)
        allowed = set(query.values_list("pk", flat=True))
    except (FieldError, ModelValidationError) as exc:
        return [_Rejected("query_params", f"query_params {_render(variable.query_params)} cannot be applied: {exc}")]
    return [
        _Rejected("query_params", f"{obj} does not match the filter {_render(shown)} for this field.")
        for obj in chosen
        if obj.pk not in allowed
    ]


def _visible(model: type, requester: User | None) -> QuerySet[Any]:
    try:
        return visible_objects(model, requester)
    except NotSelectable as exc:
        raise _Rejected("not_selectable", str(exc)) from exc


def resolve_objects(
    variables: Mapping[str, ScriptVariable], cleaned: dict[str, Any], failed: set[str], requester: User | None
) -> list[ObjectProblem]:
    """Replace the references in ``cleaned`` by model instances and return every problem.

    Variables named in ``failed`` are skipped; those that fail here are added
    to it. A MultiObjectVar becomes a QuerySet of the chosen objects, as Django's
    form field gives one: job code calls ``.filter()``, ``.count()`` or
    ``.values_list()`` on it, and it iterates in the model's order. All objects are loaded before any ``query_params`` is checked, so a
    ``$variable`` reference works whatever the order of the variables. Objects
    ``requester`` may not see read as missing.
    """
    problems: list[ObjectProblem] = []
    for name, variable in variables.items():
        value = cleaned.get(name)
        try:
            if isinstance(value, ObjectRefs):
                cleaned[name] = _fetch_many(name, _visible(variable.model, requester), value)
            elif isinstance(value, ObjectRef):
                cleaned[name] = _fetch_one(_visible(variable.model, requester), value)
        except _Rejected as rejected:
            problems.append(ObjectProblem(name, rejected.rule, rejected.message))
            failed.add(name)
    for name, variable in variables.items():
        if not isinstance(variable, ObjectVar) or name in failed:
            continue
        value = cleaned[name]
        chosen = value if isinstance(value, list) else [] if value is None else [value]
        try:
            rejections = _outside_queryset(variable, chosen)
            if variable.query_params:
                rejections += _outside_query_params(variable, chosen, variables, cleaned, failed)
        except _Rejected as rejected:
            rejections = [rejected]
        problems.extend(ObjectProblem(name, rejected.rule, rejected.message) for rejected in rejections)
    for name, variable in variables.items():
        if isinstance(variable, MultiObjectVar) and isinstance(cleaned.get(name), list):
            cleaned[name] = variable.model.objects.filter(pk__in=[obj.pk for obj in cleaned[name]])
    return problems


def _outside_queryset(variable: ObjectVar, chosen: list[Any]) -> list[_Rejected]:
    """The chosen objects missing from the (deprecated) ``queryset`` the variable was declared with."""
    if variable.queryset is None or not chosen:
        return []
    allowed = set(variable.queryset.filter(pk__in=[obj.pk for obj in chosen]).values_list("pk", flat=True))
    return [
        _Rejected("queryset", f"Select a valid choice. {obj} is not one of the available choices.")
        for obj in chosen
        if obj.pk not in allowed
    ]
