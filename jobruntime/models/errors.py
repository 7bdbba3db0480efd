"""Exceptions raised by the models, named after the Django ones job authors already catch."""

from __future__ import annotations

from jobruntime.core.errors import JobRuntimeError


class ValidationError(JobRuntimeError, ValueError):
    """A model instance breaks one of its rules; the message names model, field and rule.

    Like Django's, it may carry one message, a list, or ``{field: [messages]}``;
    ``messages`` (and ``message_dict`` for the last) read them the way job code
    written for Django does.
    """

    @property
    def messages(self) -> list[str]:
        detail = self.args[0] if self.args else ""
        if isinstance(detail, dict):
            return [str(message) for messages in detail.values() for message in _as_list(messages)]
        return [str(message) for message in _as_list(detail)]

    @property
    def message_dict(self) -> dict[str, list[str]]:
        detail = self.args[0] if self.args else None
        if not isinstance(detail, dict):
            raise AttributeError("This ValidationError has no message_dict: it was raised with one message, not by field")
        return {str(field): [str(message) for message in _as_list(messages)] for field, messages in detail.items()}


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


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
