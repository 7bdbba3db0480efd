"""The ``JobRuntimeError`` family: every error jobruntime raises on purpose descends from it.

Callers catch a subtree for what they can handle: ``RefusalError`` for a
request jobruntime will not run as given (answered with its reason, never
retried), ``SetupError`` for a deployment problem an operator must fix,
``BrokerError`` and ``StorageError`` for a transport that failed or refused.
Concrete errors keep the builtin base callers already rely on (a refusal
about a value is still a ``ValueError``), so ``except JobRuntimeError`` never
has to stand in for ``except ValueError`` and a stray ``ValueError`` from a
bug is never mistaken for a refusal.
"""

from __future__ import annotations


class JobRuntimeError(Exception):
    """Root of every error jobruntime raises on purpose."""


class RefusalError(JobRuntimeError):
    """A request jobruntime will not run as given; the message says why, for the requester."""


class SetupError(JobRuntimeError):
    """Configuration or deployment that must be fixed before jobruntime can work."""


class BrokerError(JobRuntimeError):
    """The message broker failed, or refused what was asked of it."""


class StorageError(JobRuntimeError):
    """The file store failed, or refused what was asked of it."""


class RunInterrupted(JobRuntimeError):
    """A run stopped from outside the job: cancelled, its lease lost, or a time limit."""
