"""Command line: ``hounsfield user ...``, ``hounsfield group ...``, ``hounsfield token ...``
and ``hounsfield anonymize IN OUT``. Changes are recorded in the audit trail as made by
``cli:<operating-system user>``."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from pathlib import Path
from typing import Any

import click

from hounsfield.auth import accounts, audit, credentials
from hounsfield.auth.permissions import ROLES
from hounsfield.errors import HounsfieldError
from hounsfield.index import Database

__all__ = ["anonymize", "create_first_admin", "group_group", "register", "token_group",
           "user_group"]


def create_first_admin(db: Database) -> str | None:
    """On an archive without users: create ``admin`` with a random password and print it
    once (``hounsfield serve`` and ``hounsfield demo`` call this at start)."""
    password = accounts.bootstrap_admin(db)
    if password is None:
        return None
    audit.record(db, action="admin", outcome="success", user="system", remote_address="",
                 details={"what": "first administrator created", "username": "admin"})
    line = "=" * 72
    click.echo(f"{line}\nFirst start: created the administrator account.\n"
               f"  user name: admin\n  password:  {password}\n"
               "This password is shown only now. Log in and change it "
               f"(or: hounsfield user passwd admin).\n{line}")
    return password


def _actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except Exception:  # pragma: no cover - no user database
        return "cli"


class _Db:
    """The index database of the configured archive, migrated."""

    def __init__(self, ctx: click.Context) -> None:
        from hounsfield.archive import index_url
        from hounsfield.cli import _settings

        self.settings = _settings(ctx)
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(index_url(self.settings), pool_size=2)
        self.db.migrate()

    def __enter__(self) -> "_Db":
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()

    def record(self, details: dict[str, Any], action: str = "admin") -> None:
        audit.record(self.db, action=action, outcome="success", user=_actor(),
                     remote_address="", details=details)


def _fail(exc: HounsfieldError) -> None:
    raise click.ClickException(exc.message)


def _ask_password(prompt: str = "Password") -> str:
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


@click.group("user")
def user_group() -> None:
    """Manage user accounts."""


@user_group.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), required=True,
              help="Role (repeat for several).")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--dicom-name", default="",
              help="The user's name as DICOM writes it (Family^Given): a referring physician "
                   "sees the studies that name it as Referring Physician.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--no-password", is_flag=True, help="No password: API tokens only.")
@click.pass_context
def user_add(ctx: click.Context, username: str, roles: tuple[str, ...], display_name: str,
             dicom_name: str, password_stdin: bool, no_password: bool) -> None:
    """Add a user."""
    password = None if no_password else (
        sys.stdin.readline().rstrip("\n") if password_stdin else _ask_password())
    with _Db(ctx) as db:
        try:
            user = accounts.create_user(
                db.db, username, password, roles=roles, display_name=display_name,
                dicom_person_name=dicom_name,
                min_password_length=db.settings["auth.password_min_length"])
        except HounsfieldError as exc:
            _fail(exc)
        db.record({"what": "user added", "username": username, "roles": list(roles)})
    click.echo(f"Added user {user.username} ({', '.join(user.roles)}).")


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def user_list(ctx: click.Context, as_json: bool) -> None:
    """List users."""
    with _Db(ctx) as db:
        found = accounts.list_users(db.db)
    if as_json:
        click.echo(json.dumps([u.to_json() for u in found], indent=2))
        return
    for u in found:
        state = "disabled" if u.disabled else "active"
        click.echo(f"{u.username:<24} {','.join(u.roles):<32} {state:<9} {u.display_name}")


@user_group.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the account again instead.")
@click.pass_context
def user_disable(ctx: click.Context, username: str, enable: bool) -> None:
    """Disable a user (sessions and tokens stop working at once)."""
    with _Db(ctx) as db:
        try:
            accounts.set_disabled(db.db, username, not enable)
        except HounsfieldError as exc:
            _fail(exc)
        db.record({"what": "user enabled" if enable else "user disabled",
                   "username": username})
    click.echo(f"User {username} {'enabled' if enable else 'disabled'}.")


@user_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def user_passwd(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set a user's password (ends the user's sessions)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else _ask_password(
        "New password")
    with _Db(ctx) as db:
        try:
            accounts.set_password(db.db, username, password,
                                  min_password_length=db.settings["auth.password_min_length"])
        except HounsfieldError as exc:
            _fail(exc)
        db.record({"what": "password set", "username": username})
    click.echo(f"Password of {username} changed.")


@user_group.command("grant")
@click.argument("username")
@click.option("--institution", help="Every study of this Institution Name (0008,0080).")
@click.option("--source-ae", help="Every study received from this AE title.")
@click.option("--study", help="One study (Study Instance UID).")
@click.pass_context
def user_grant(ctx: click.Context, username: str, institution: str | None,
               source_ae: str | None, study: str | None) -> None:
    """Give a user access to more studies."""
    _grant(ctx, institution, source_ae, study, user=username)


def _grant(ctx: click.Context, institution: str | None, source_ae: str | None,
           study: str | None, **who: str) -> None:
    chosen = [(k, v) for k, v in (("institution", institution), ("source_ae", source_ae),
                                  ("study", study)) if v]
    if len(chosen) != 1:
        raise click.UsageError("Give exactly one of --institution, --source-ae, --study.")
    kind, value = chosen[0]
    with _Db(ctx) as db:
        try:
            grant_id = accounts.add_grant(db.db, kind=kind, value=value, created_by=_actor(),
                                          **who)
        except HounsfieldError as exc:
            _fail(exc)
        db.record({"what": "grant added", "grant": grant_id, "kind": kind, "value": value,
                   **who}, action="share" if kind == "study" else "admin")
    click.echo(f"Grant {grant_id}: {kind} {value!r} to {next(iter(who.values()))}.")


@click.group("group")
def group_group() -> None:
    """Manage groups of users and their study grants."""


@group_group.command("add")
@click.argument("name")
@click.option("--description", default="")
@click.pass_context
def group_add(ctx: click.Context, name: str, description: str) -> None:
    """Add a group."""
    with _Db(ctx) as db:
        try:
            accounts.create_group(db.db, name, description)
        except HounsfieldError as exc:
            _fail(exc)
        db.record({"what": "group added", "group": name})
    click.echo(f"Added group {name}.")


@group_group.command("member")
@click.argument("name")
@click.argument("username")
@click.option("--remove", is_flag=True, help="Remove the user from the group instead.")
@click.pass_context
def group_member(ctx: click.Context, name: str, username: str, remove: bool) -> None:
    """Add a user to a group (or remove with --remove)."""
    with _Db(ctx) as db:
        try:
            (accounts.remove_member if remove else accounts.add_member)(db.db, name, username)
        except HounsfieldError as exc:
            _fail(exc)
        db.record({"what": "member removed" if remove else "member added", "group": name,
                   "username": username})
    click.echo(f"{'Removed' if remove else 'Added'} {username} {'from' if remove else 'to'} {name}.")


@group_group.command("grant")
@click.argument("name")
@click.option("--institution", help="Every study of this Institution Name (0008,0080).")
@click.option("--source-ae", help="Every study received from this AE title.")
@click.option("--study", help="One study (Study Instance UID).")
@click.pass_context
def group_grant(ctx: click.Context, name: str, institution: str | None, source_ae: str | None,
                study: str | None) -> None:
    """Give a group's members access to more studies."""
    _grant(ctx, institution, source_ae, study, group=name)


@group_group.command("list")
@click.pass_context
def group_list(ctx: click.Context) -> None:
    """List groups, members and grants."""
    with _Db(ctx) as db:
        found = accounts.list_groups(db.db)
        grants = accounts.list_grants(db.db)
    for g in found:
        click.echo(f"{g['name']}: {', '.join(g['members']) or '(no members)'}")
        for grant in (x for x in grants if x["group"] == g["name"]):
            click.echo(f"  grant {grant['id']}: {grant['kind']} {grant['value']!r}")


@click.group("token")
def token_group() -> None:
    """Manage API tokens (Authorization: Bearer hf_...)."""


@token_group.command("create")
@click.argument("username")
@click.option("--name", default="", help="What the token is for.")
@click.option("--expires-days", type=int, default=None, help="Days until it expires.")
@click.pass_context
def token_create(ctx: click.Context, username: str, name: str, expires_days: int | None) -> None:
    """Create a token for a user and print it once."""
    expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=expires_days)
               if expires_days else None)
    with _Db(ctx) as db:
        try:
            token, token_id = credentials.create_token(db.db, username, name, expires)
        except HounsfieldError as exc:
            _fail(exc)
        db.record({"what": "API token created", "username": username, "token": token_id})
    click.echo(f"Token {token_id} for {username} (shown only now):")
    click.echo(token)


@token_group.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke a token by its id."""
    with _Db(ctx) as db:
        try:
            credentials.revoke_token(db.db, token_id)
        except HounsfieldError as exc:
            _fail(exc)
        db.record({"what": "API token revoked", "token": token_id})
    click.echo(f"Token {token_id} revoked.")


@token_group.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@click.pass_context
def token_list(ctx: click.Context, username: str | None) -> None:
    """List tokens (never the token values)."""
    with _Db(ctx) as db:
        found = credentials.list_tokens(db.db, username)
    for t in found:
        state = "revoked" if t["revoked"] else "active"
        click.echo(f"{t['id']:>5} {t['username']:<20} {state:<8} {t['name']} "
                   f"(expires {t['expires_at'] or 'never'})")


@click.command("anonymize")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.pass_context
def anonymize(ctx: click.Context, source: Path, target: Path) -> None:
    """De-identify DICOM files (PS3.15 Annex E, options from deidentify.*) from SOURCE (a
    file or folder) into the folder TARGET, with consistent pseudonyms within one run."""
    from hounsfield.auth.export import anonymize_tree, new_deidentifier
    from hounsfield.cli import _settings

    settings = _settings(ctx)
    report = anonymize_tree(source, target, new_deidentifier(settings))
    for path, reason in report.skipped:
        click.echo(f"skipped {path}: {reason}", err=True)
    click.echo(f"De-identified {len(report.written)} files into {target}; "
               f"skipped {len(report.skipped)}.")
    if not report.written and report.skipped:
        sys.exit(1)


def register(main: click.Group) -> None:
    """Add the commands to the ``hounsfield`` group."""
    for command in (user_group, group_group, token_group, anonymize):
        main.add_command(command)
