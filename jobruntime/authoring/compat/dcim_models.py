"""What ``nautobot.dcim.models`` provides: the DCIM models jobruntime keeps."""

from jobruntime.models import (
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
    Region,
    Site,
)

__all__ = [
    "Cable", "ConsolePort", "ConsoleServerPort", "Device", "DeviceRole", "DeviceType", "Interface",
    "Manufacturer", "Platform", "PowerOutlet", "PowerPort", "Region", "Site",
]
