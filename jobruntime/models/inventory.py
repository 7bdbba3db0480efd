"""The inventory models (organization, DCIM, cabling, IPAM, custom fields and tags), declared together.

Their relationships name each other, so SQLAlchemy can configure none of them
until all are declared. ``jobruntime.models`` imports this module the first time
an inventory model is asked for: a run of a job that never touches inventory
(and every CLI command that only reads jobs and results) skips declaring and
configuring them, which is most of the models' start-up cost.
"""

from jobruntime.models.cabling import COMPATIBLE_TERMINATIONS, CableTermination
from jobruntime.models.custom_fields import CustomField, CustomFieldChoice
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
from jobruntime.models.ipam import VLAN, IPAddress, Prefix
from jobruntime.models.organization import Region, Site, Status, Tenant, TenantGroup
from jobruntime.models.tags import Tag, TaggedItem

# jobruntime.models lists these names too (INVENTORY_NAMES), to offer them before importing this module.
__all__ = [
    "COMPATIBLE_TERMINATIONS",
    "VLAN",
    "Cable",
    "CableTermination",
    "ConsolePort",
    "ConsoleServerPort",
    "CustomField",
    "CustomFieldChoice",
    "Device",
    "DeviceRole",
    "DeviceType",
    "IPAddress",
    "Interface",
    "Manufacturer",
    "Platform",
    "PowerOutlet",
    "PowerPort",
    "Prefix",
    "Region",
    "Site",
    "Status",
    "Tag",
    "TaggedItem",
    "Tenant",
    "TenantGroup",
]
