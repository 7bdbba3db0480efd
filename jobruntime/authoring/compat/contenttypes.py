"""What ``django.contrib.contenttypes.models`` provides: ``ContentType``."""

from jobruntime.models.contenttypes import ContentType

__all__ = ["ContentType"]
