"""``cryptobot users create NAME``: create a user (the first admin, typically) from the command line.

The password is prompted for twice without echo, or read from standard
input (``--password-stdin``) or from an environment variable
(``--password-env VAR``), so it never appears in the process list or the
shell history.  It is never printed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from cryptobot.api.bootstrap import check_password_strength
from cryptobot.core.config import load_settings
from cryptobot.core.errors import ValidationError
from cryptobot.storage.repositories.users import ROLES


def add_user_commands(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="manage the users who may log in to the API")
    actions = users.add_subparsers(dest="users_command", required=True)
    create = actions.add_parser("create", help="create a user; the password is prompted for unless given another way")
    create.add_argument("username", help="3 to 64 letters, digits or . _ @ -")
    create.add_argument("--role", action="append", choices=ROLES, dest="roles",
                        help="role to grant (repeatable; default: user)")
    source = create.add_mutually_exclusive_group()
    source.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    source.add_argument("--password-env", metavar="VAR", help="read the password from environment variable VAR")
    create.set_defaults(handler=run_create)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise ValidationError(f"environment variable {args.password_env} is not set", {"password": "missing"})
        return password
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValidationError("no terminal to prompt for the password: use --password-stdin or --password-env VAR",
                              {"password": "missing"})
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != first:
        raise ValidationError("the two passwords differ", {"password": "mismatch"})
    return first


async def _create(args: argparse.Namespace, password: str) -> str:
    from cryptobot.storage.database import Database

    settings = load_settings(args.config)
    db = await Database.open(settings)
    try:
        roles = tuple(args.roles or ("user",))
        user = await db.users.create(args.username, password, roles)
        await db.audit.append("user.create", actor_type="system", target_type="user", target_id=user.id,
                              details={"username": user.username, "roles": list(roles), "source": "command line"})
    finally:
        await db.close()
    return f"created user {user.username} ({user.id}) with roles {', '.join(user.roles)}"


def run_create(args: argparse.Namespace) -> int:
    password = check_password_strength(_read_password(args))
    print(asyncio.run(_create(args, password)))
    return 0
