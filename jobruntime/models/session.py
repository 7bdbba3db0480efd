"""The database session that ``Model.objects`` and ``validated_save()`` use implicitly.

Job code is written Django-style (``Site.objects.filter(...)``) with no session
argument, so the session travels in a context variable: the job engine binds
one for the duration of a run and every query inside resolves it at evaluation
time. Context variables keep concurrent jobs in threads or tasks apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobruntime.models.errors import NoSessionBound

_bound: ContextVar[Session | None] = ContextVar("jobruntime_bound_session", default=None)


@contextmanager
def bind_session(session: Session) -> Iterator[Session]:
    """Make ``session`` the current one inside the ``with`` block; bindings nest."""
    token = _bound.set(session)
    try:
        yield session
    finally:
        _bound.reset(token)


def current_session() -> Session:
    """The session bound by the innermost ``bind_session()``."""
    session = _bound.get()
    if session is None:
        raise NoSessionBound(
            "No database session is bound: wrap the code in "
            "`with bind_session(Session(engine, expire_on_commit=False)):` before using Model.objects, "
            "validated_save() or delete()."
        )
    return session


def forget_loaded_relations(session: Session) -> None:
    """After a delete, loaded objects re-read their relations: the database nulled or removed what pointed at it.

    Only relations are expired: columns keep their values, so an object the delete
    removed still reads as it was, as in Django, instead of raising.
    """
    for obj in list(session.identity_map.values()):
        keys = [relation.key for relation in sa.inspect(type(obj)).relationships]
        if keys:
            session.expire(obj, keys)
