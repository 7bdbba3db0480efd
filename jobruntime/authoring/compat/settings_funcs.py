"""What ``nautobot.core.settings_funcs`` provides: ``is_truthy``."""

from jobruntime.authoring.compat.helpers import is_truthy

__all__ = ["is_truthy"]
