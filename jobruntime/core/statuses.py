"""The statuses a run (its JobResult) goes through, named as in Nautobot 1.x.

A module of its own so that everything agrees on them, the command line included,
which imports it without pydantic or SQLAlchemy.
"""

PENDING, RUNNING, COMPLETED, FAILED, ERRORED = "pending", "running", "completed", "failed", "errored"
RESULT_STATUSES = (PENDING, RUNNING, COMPLETED, FAILED, ERRORED)
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, ERRORED})
