"""What ``django.core.exceptions`` provides: the model errors job code catches, under Django's names."""

from jobruntime.models import FieldError, MultipleObjectsReturned, ObjectDoesNotExist, ValidationError

__all__ = ["FieldError", "MultipleObjectsReturned", "ObjectDoesNotExist", "ValidationError"]
