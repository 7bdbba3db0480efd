"""Nautobot 1.x's ``Job.validate_data`` / ``serialize_data`` / ``deserialize_data``, for job code and tests that call them.

Runs never use these: a run's data goes through :func:`jobruntime.authoring.inputs.validate_data`,
which checks everything and reports every problem at once. These keep Nautobot's
own contracts, word for word where its tests match on the messages, so a job's
test suite written for Nautobot passes here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import netaddr

from jobruntime.authoring.inputs import NOT_A_DICT_MESSAGE, NULL_REQUIRED_MESSAGE, UNKNOWN_MESSAGE, InputValidationError
from jobruntime.authoring.inputs import validate_data as validate_input
from jobruntime.authoring.variables import (
    IPAddressVar,
    IPAddressWithMaskVar,
    IPNetworkVar,
    MultiObjectVar,
    ObjectVar,
    ScriptVariable,
)
from jobruntime.core.parsing import as_uuid
from jobruntime.models import Base, QuerySet, ValidationError

VALIDATE_NOT_A_DICT_MESSAGE = "Job data needs to be a dict"  # Nautobot's validate_data (its REST API) says this


def validate_data(variables: Mapping[str, ScriptVariable], data: Any) -> dict[str, Any]:
    """The cleaned data, objects loaded; raises ValidationError as Nautobot's ``Job.validate_data`` does.

    Data that is not a dict, or an unknown key, is refused with Nautobot's message;
    field errors come as ``{"<variable>": ["<message>", ...]}`` in the error's ``args[0]``.
    """
    if not isinstance(data, Mapping):
        raise ValidationError(VALIDATE_NOT_A_DICT_MESSAGE)
    for key in data:
        if key not in variables:
            raise ValidationError({key: UNKNOWN_MESSAGE})
    try:
        return validate_input(variables, data)
    except InputValidationError as exc:
        raise ValidationError(exc.as_dict()) from None


def deserialize_data(variables: Mapping[str, ScriptVariable], data: Any) -> dict[str, Any]:
    """Stored (JSON) data back to the objects ``run()`` gets, without the form's checks, as Nautobot does.

    Keys that are no variable are skipped. Raises TypeError for data that is not a
    dict, ValidationError for a missing required value, and the model's
    ``DoesNotExist`` (or ``MultipleObjectsReturned``) for objects not found.
    """
    if not isinstance(data, Mapping):
        raise TypeError(NOT_A_DICT_MESSAGE)
    cleaned: dict[str, Any] = {}
    for name, value in data.items():
        variable = variables.get(name)
        if variable is None:
            continue
        if value is None:
            if variable.required:
                raise ValidationError(NULL_REQUIRED_MESSAGE.format(name=name))
            cleaned[name] = None
        elif isinstance(variable, MultiObjectVar):
            cleaned[name] = _objects(variable, name, value)
        elif isinstance(variable, ObjectVar):
            lookups = dict(value) if isinstance(value, Mapping) else {"pk": value}
            cleaned[name] = variable.model.objects.get(**lookups)
        elif isinstance(variable, IPAddressVar):
            cleaned[name] = netaddr.IPAddress(value)
        elif isinstance(variable, (IPAddressWithMaskVar, IPNetworkVar)):
            cleaned[name] = netaddr.IPNetwork(value)
        else:
            cleaned[name] = value
    return cleaned


def _objects(variable: MultiObjectVar, name: str, pks: Any) -> QuerySet[Any]:
    """The objects as a QuerySet; any pk not found is named in the model's ``DoesNotExist``."""
    queryset = variable.model.objects.filter(pk__in=[as_uuid(pk) for pk in pks])
    found = {str(pk) for pk in queryset.values_list("pk", flat=True)}
    missing = [str(pk) for pk in pks if str(as_uuid(pk)) not in found]
    if missing:
        raise variable.model.DoesNotExist(f"Failed to find requested objects for var {name}: [{', '.join(missing)}]")
    return queryset


def serialize_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Cleaned data made storable, as Nautobot's: QuerySets as pk lists, objects as pks, IPs as text."""
    serialized: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, QuerySet):
            serialized[name] = list(value.values_list("pk", flat=True))
        elif isinstance(value, Base):
            serialized[name] = value.pk
        elif isinstance(value, (netaddr.IPAddress, netaddr.IPNetwork)):
            serialized[name] = str(value)
        else:
            serialized[name] = value
    return serialized


__all__ = ["deserialize_data", "serialize_data", "validate_data"]
