"""What ``nautobot.ipam.models`` provides: the IPAM models jobruntime keeps."""

from jobruntime.models import VLAN, IPAddress, Prefix

__all__ = ["VLAN", "IPAddress", "Prefix"]
