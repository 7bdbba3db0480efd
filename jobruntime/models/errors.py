"""Exceptions raised by the models, named after the Django ones job authors already catch."""

from __future__ import annotations

from jobruntime.core.errors import JobRuntimeError


class ValidationError(JobRuntimeError, ValueError):
    """A model instance breaks one of its rules; the message names model, field and rule."""


class ProtectedError(ValidationError):
    """An object cannot be deleted because other rows still reference it."""


class FieldError(JobRuntimeError, ValueError):
    """A lookup, ordering or loader option names a field the model does not have."""


class ObjectDoesNotExist(JobRuntimeError, LookupError):
    """``get()`` matched no row; each model has its own ``Model.DoesNotExist`` subclass."""


class MultipleObjectsReturned(JobRuntimeError, LookupError):
    """``get()`` matched more than one row; each model has its own subclass."""


class NoSessionBound(JobRuntimeError, RuntimeError):
    """A query ran outside ``bind_session()``, so there is no database session to use."""
