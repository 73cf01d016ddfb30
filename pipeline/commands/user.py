"""``fieldrec user``: accounts of the review service (add, roles, password, disable, enable, list)."""

from __future__ import annotations

import argparse
import getpass
import sys

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import add_archive, add_format, config_of, emit, existing_archive, locked_catalog
from pipeline.common import vocabulary
from pipeline.common.clock import now_utc
from pipeline.common.i18n import N_, _

HELP = N_("""\
Manage who may sign in to the review service (`fieldrec serve`). Roles:
  officer   sees the docking and timelines, asks for access, explains interruptions of own recordings
  clerk     records clerk: opens, assigns and closes cases, explains interruptions, asks to export or purge
  approver  grants or denies others' requests (never their own), approves written explanations
  auditor   reads the access log, sign-ins and the latest verify result
  admin     cases and explanations like a clerk
An account may hold several roles. Passwords are read from the terminal (twice), or from the first
line of standard input with --password-stdin; they are stored only as argon2id hashes. Every change
is an event appended to the `users` table and sealed, like every other change to the archive.
""")

ROLES_HELP = N_("officer, clerk, approver, auditor, admin (repeat --role for several)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("user", help=_("accounts of the review service"), description=_(HELP),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("add", help=_("add an account (password prompted)"))
    a.add_argument("name", metavar="NAME", help=_("sign-in name: lower-case letters, digits, . _ - (2-32)"))
    a.add_argument("--role", action="append", required=True, help=_(ROLES_HELP))
    a.add_argument("--display-name", metavar="TEXT", help=_("the name pages show (default: NAME)"))
    a.add_argument("--officer", metavar="OFFICER_ID", help=_("the officer id in recordings' names, for an officer"))
    a.add_argument("--password-stdin", action="store_true", help=_("read the password from standard input"))
    add_archive(a)
    a.set_defaults(handler=run_add)
    r = actions.add_parser("roles", help=_("replace an account's roles"))
    r.add_argument("name", metavar="NAME", help=_("the account's sign-in name"))
    r.add_argument("--role", action="append", required=True, help=_(ROLES_HELP))
    r.add_argument("--officer", metavar="OFFICER_ID", help=_("change the linked officer id"))
    add_archive(r)
    r.set_defaults(handler=run_roles)
    for action, text in (("password", _("set a new password")), ("disable", _("stop an account from signing in")),
                         ("enable", _("let a disabled account sign in again"))):
        q = actions.add_parser(action, help=text)
        q.add_argument("name", metavar="NAME", help=_("the account's sign-in name"))
        if action == "password":
            q.add_argument("--password-stdin", action="store_true", help=_("read the password from standard input"))
        add_archive(q)
        q.set_defaults(handler=run_change, change=action)
    ls = actions.add_parser("list", help=_("list the accounts"))
    add_archive(ls)
    add_format(ls)
    ls.set_defaults(handler=run_list)


def _operator() -> str:
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return "os:unknown"


def _password(from_stdin: bool) -> str:
    from pipeline.native.passwords import WeakPassword, check_strength

    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        if not sys.stdin.isatty():
            raise UsageError(_("no terminal to ask for the password on; use --password-stdin"))
        password = getpass.getpass(_("password: "))
        if getpass.getpass(_("again: ")) != password:
            raise UsageError(_("the two passwords differ; nothing was changed"))
    try:
        check_strength(password)
    except WeakPassword as exc:
        raise UsageError(_("{problem}; nothing was changed").format(problem=exc)) from None
    return password


def _checked(args) -> tuple:
    from pipeline.common import inputs
    from pipeline.records import users

    try:
        name = inputs.user_id(args.name, "NAME")
        roles = users.check_roles(args.role) if getattr(args, "role", None) is not None else None
        display = inputs.clean_text(getattr(args, "display_name", None), "--display-name", max_len=80, required=False)
        officer = getattr(args, "officer", None)
        if officer is not None:
            officer = inputs.record_id(officer, "--officer")
    except inputs.InputError as exc:
        raise UsageError(str(exc)) from None
    return name, roles, display, officer


def _accounts(catalog):
    from pipeline.records import users

    return users.accounts(catalog.rows("users"), catalog.rows("credentials"))


def run_add(args: argparse.Namespace) -> int:
    from pipeline.native.passwords import hash_password
    from pipeline.records import users

    name, roles, display, officer = _checked(args)
    config = config_of(args)
    archive = existing_archive(args.archive)
    password = _password(args.password_stdin)
    with locked_catalog(archive, config, f"user add {name}") as catalog:  # untranslated: lock note
        if name in _accounts(catalog):
            raise UsageError(_("account {name} exists already; change it with `fieldrec user roles` or "
                               "`password`").format(name=name))
        now, by = now_utc(), _operator()
        catalog.commit({"users": [users.user_event(name, "add", by=by, at=now, roles=roles, display_name=display or name,
                                                   officer_id=officer)],
                        "credentials": [users.credential(name, hash_password(password), by=by, at=now)]},
                       tag=f"user-{name}")
    print(_("account {name} added with role(s) {roles}").format(name=name, roles=_roles(roles)))
    return 0


def run_roles(args: argparse.Namespace) -> int:
    from pipeline.records import users

    name, roles, _display, officer = _checked(args)
    config = config_of(args)
    archive = existing_archive(args.archive)
    with locked_catalog(archive, config, f"user roles {name}") as catalog:  # untranslated: lock note
        if name not in _accounts(catalog):
            raise UsageError(_("no account {name}; `fieldrec user list` shows them").format(name=name))
        catalog.commit({"users": [users.user_event(name, "roles", by=_operator(), at=now_utc(), roles=roles,
                                                   officer_id=officer)]}, tag=f"user-{name}")
    print(_("account {name} now has role(s) {roles}").format(name=name, roles=_roles(roles)))
    return 0


def run_change(args: argparse.Namespace) -> int:
    from pipeline.native.passwords import hash_password
    from pipeline.records import users

    name = _checked(args)[0]
    config = config_of(args)
    archive = existing_archive(args.archive)
    password = _password(args.password_stdin) if args.change == "password" else None
    with locked_catalog(archive, config, f"user {args.change} {name}") as catalog:
        account = _accounts(catalog).get(name)
        if account is None:
            raise UsageError(_("no account {name}; `fieldrec user list` shows them").format(name=name))
        if args.change in ("disable", "enable") and account.active == (args.change == "enable"):
            raise UsageError((_("account {name} is active already") if account.active
                              else _("account {name} is disabled already")).format(name=name))
        now, by = now_utc(), _operator()
        batch = {"users": [users.user_event(name, args.change, by=by, at=now)]}
        if password is not None:
            batch["credentials"] = [users.credential(name, hash_password(password), by=by, at=now)]
        try:
            catalog.commit(batch, tag=f"user-{name}")
        except OSError as exc:
            raise RunError(_("the change could not be written: {why}").format(why=exc)) from None
    print({"password": _("account {name}: password changed"),
           "disable": _("account {name}: disabled (a running service ends its sessions at their next request)"),
           "enable": _("account {name}: enabled")}[args.change].format(name=name))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from catalog.store import Catalog

    archive = existing_archive(args.archive)
    rows = [{"name": a.user_id, "display_name": a.display_name, "roles": ",".join(sorted(a.roles)),
             "officer_id": a.officer_id, "active": "yes" if a.active else "no"}
            for a in sorted(_accounts(Catalog(archive)).values(), key=lambda a: a.user_id)]
    emit(rows, ["name", "display_name", "roles", "officer_id", "active"], args.format)
    return 0


def _roles(roles) -> str:
    return ", ".join(vocabulary.value("role", r) for r in roles)
