"""What ``django.utils.text`` provides: ``slugify``, which job code uses to make slugs."""

from jobruntime.core.text import slugify

__all__ = ["slugify"]
