"""User administration."""

from __future__ import annotations

import click

from jobruntime.cli.common import CommandError, get_runtime


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

    runtime = get_runtime()
    with runtime.session() as session:
        if session.scalars(select(User).where(User.username == username)).first() is not None:
            raise CommandError(f"User {username} already exists")
        session.add(User(username=username, is_superuser=superuser))
        session.commit()
    click.echo(f"Created user {username}{' (superuser)' if superuser else ''}")


@users.command("list")
def list_users() -> None:
    """List users."""
    from sqlalchemy import select

    from jobruntime.models import User

    runtime = get_runtime()
    with runtime.session() as session:
        for user in session.scalars(select(User).order_by(User.username)):
            click.echo(f"{user.username}{'  (superuser)' if user.is_superuser else ''}")
