"""What ``nautobot.tenancy.models`` provides."""

from jobruntime.models import Tenant, TenantGroup

__all__ = ["Tenant", "TenantGroup"]
