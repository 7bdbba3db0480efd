"""Inventory and job bookkeeping models with a Nautobot-1.x-style API.

Import models from here: importing this package registers every model, which
SQLAlchemy needs before any of them is used.
"""

from jobruntime.models.base import Base, model_for_label
from jobruntime.models.cabling import COMPATIBLE_TERMINATIONS, CableTermination
from jobruntime.models.dcim import (
    Cable,
    ConsolePort,
    ConsoleServerPort,
    Device,
    DeviceRole,
    DeviceType,
    Interface,
    Manufacturer,
    Platform,
    PowerOutlet,
    PowerPort,
)
from jobruntime.models.errors import (
    FieldError,
    MultipleObjectsReturned,
    NoSessionBound,
    ObjectDoesNotExist,
    ProtectedError,
    ValidationError,
)
from jobruntime.models.extras import JOB_OVERRIDABLE_FIELDS, Job, JobLogEntry, JobResult, OutboxEvent
from jobruntime.models.ipam import VLAN, IPAddress, Prefix
from jobruntime.models.organization import Region, Site, Status, Tenant, TenantGroup
from jobruntime.models.query import QuerySet
from jobruntime.models.session import bind_session, current_session
from jobruntime.models.users import ObjectPermission, Token, User

__all__ = [
    "COMPATIBLE_TERMINATIONS",
    "JOB_OVERRIDABLE_FIELDS",
    "VLAN",
    "Base",
    "Cable",
    "CableTermination",
    "ConsolePort",
    "ConsoleServerPort",
    "Device",
    "DeviceRole",
    "DeviceType",
    "FieldError",
    "IPAddress",
    "Interface",
    "Job",
    "JobLogEntry",
    "JobResult",
    "Manufacturer",
    "MultipleObjectsReturned",
    "NoSessionBound",
    "ObjectPermission",
    "ObjectDoesNotExist",
    "OutboxEvent",
    "Platform",
    "PowerOutlet",
    "PowerPort",
    "Prefix",
    "ProtectedError",
    "QuerySet",
    "Region",
    "Site",
    "Status",
    "Tenant",
    "TenantGroup",
    "Token",
    "User",
    "ValidationError",
    "bind_session",
    "current_session",
    "model_for_label",
]
