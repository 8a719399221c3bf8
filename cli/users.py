"""`workbench users ...`: people and roles of team mode, and what each person did, headless.

The command line acts as the local admin (it holds the database file): role changes are
recorded under `--actor` (default: the login name), and the library still refuses an
unknown role and removing the last admin, as on the People page.
"""

from __future__ import annotations

import argparse

import polars as pl

from cli.common import add_actor_option, add_command, open_database, resolve_actor
from curation import access


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("users", help="team mode: people, roles, activity")
    actions = parser.add_subparsers(dest="action", required=True)
    _add(actions, "list", "everyone known or invited, with their role")
    set_role = _add(actions, "set-role", "give a person (key, e-mail or name) a role")
    set_role.add_argument("who")
    set_role.add_argument("role", help=f"one of: {', '.join(access.ROLES)}")
    invite = _add(actions, "invite", "give an e-mail a role before its first sign-in")
    invite.add_argument("email")
    invite.add_argument("role", help=f"one of: {', '.join(access.ROLES)}")
    remove = _add(actions, "remove", "forget a person or an invitation (history keeps them)")
    remove.add_argument("who")
    activity = _add(actions, "activity", "what each person did, newest first")
    activity.add_argument("who", nargs="?", default=None, help="a key (default: everyone)")
    activity.add_argument("--limit", type=int, default=50)


def _add(actions: argparse._SubParsersAction, name: str, help_text: str) -> argparse.ArgumentParser:
    sub = add_command(actions, name, help_text, handle)
    add_actor_option(sub)
    return sub


def handle(args: argparse.Namespace) -> int:
    actor = resolve_actor(args.actor)
    with open_database(args.db) as con:
        if args.action == "list":
            _print(
                access.list_users(con).select("user_key", "email", "name", "role", "last_seen_at")
            )
        elif args.action == "set-role":
            user = access.set_role(con, args.who, args.role, actor=actor)
            print(f"{user['email'] or user['user_key']} is now {user['role']}")
        elif args.action == "invite":
            key = access.invite(con, args.email, args.role, actor=actor)
            print(f"invited {key.removeprefix('invite:')} as {args.role}")
        elif args.action == "remove":
            print(f"removed {access.remove_user(con, args.who, actor=actor)}")
        else:
            _print(access.list_activity(con, actor=args.who, limit=args.limit).drop("actor"))
    return 0


def _print(frame: pl.DataFrame) -> None:
    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=200):
        print(frame)
