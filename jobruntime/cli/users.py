"""User administration: accounts, API tokens and permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from jobruntime.cli.common import CommandError, get_runtime
from jobruntime.core.clock import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jobruntime.models import User


@click.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("username")
@click.option("--superuser", is_flag=True, help="Grant every permission.")
def create(username: str, superuser: bool) -> None:
    """Create a user."""
    from sqlalchemy import select

    from jobruntime.models import User

    _check_username(username, User.__table__.c.username.type.length)
    runtime = get_runtime()
    with runtime.session() as session:
        if session.scalars(select(User).where(User.username == username)).first() is not None:
            raise CommandError(f"User {username} already exists")
        session.add(User(username=username, is_superuser=superuser))
        session.commit()
    click.echo(f"Created user {username}{' (superuser)' if superuser else ''}")


def _check_username(username: str, max_length: int) -> None:
    """Refuse a name no one could type back: blank, padded with spaces, or longer than the column."""
    if not username.strip():
        raise CommandError("A username cannot be empty or only whitespace")
    if username != username.strip():
        raise CommandError(f"A username cannot start or end with whitespace: {username!r}")
    if len(username) > max_length:
        raise CommandError(f"A username must be at most {max_length} characters")


@users.command("list")
def list_users() -> None:
    """List users."""
    from sqlalchemy import select

    from jobruntime.models import User

    runtime = get_runtime()
    with runtime.session() as session:
        for user in session.scalars(select(User).order_by(User.username)):
            click.echo(f"{user.username}{'  (superuser)' if user.is_superuser else ''}")


def _user(session: Session, username: str) -> User:
    from sqlalchemy import select

    from jobruntime.models import User

    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise CommandError(f"No such user: {username} (create it with `jobruntime users create {username}`)")
    return user


@users.command("token")
@click.argument("username")
@click.option("--description", default="", help="What the token is for.")
@click.option("--expires-days", type=click.IntRange(min=1), help="Days until the token expires (default: never).")
def token(username: str, description: str, expires_days: int | None) -> None:
    """Create an API token; the key is printed once, on stdout, and only its hash is kept."""
    import datetime as dt

    from jobruntime.run.auth import create_token

    expires = utcnow() + dt.timedelta(days=expires_days) if expires_days else None
    runtime = get_runtime()
    with runtime.session() as session:
        key = create_token(session, _user(session, username), description=description, expires=expires)
        session.commit()
    click.echo(key)
    until = f"expires {expires:%Y-%m-%d %H:%M} UTC" if expires else "never expires"
    click.echo(f"Token for {username} ({until}). Store the key now: it will not be shown again.", err=True)


@users.command("grant")
@click.argument("username")
@click.argument("action")
@click.option("--job", "class_path", help="Class path of the one job to allow (default: every job).")
def grant_permission(username: str, action: str, class_path: str | None) -> None:
    """Allow a user ACTION (run_job, or approve_job: approve others' schedules) on one job or on every job."""
    from jobruntime.cli.jobs import _record
    from jobruntime.run.auth import ACTIONS, grant

    if action not in ACTIONS:
        raise CommandError(f"Unknown action {action!r}: choose one of {', '.join(ACTIONS)}")
    runtime = get_runtime()
    with runtime.session() as session:
        user = _user(session, username)
        record = _record(session, class_path) if class_path else None
        grant(session, user, action, record)
        session.commit()
    click.echo(f"{username} may {action} on {class_path or 'every job'}")
