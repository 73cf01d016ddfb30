"""``fieldrec config``: the archive's own settings, shown, changed (logged and sealed) and their history."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from pipeline.commands import UsageError
from pipeline.commands.options import add_format, emit, existing_archive, outside_archive, writing
from pipeline.common import text
from pipeline.common.i18n import N_, _

HELP = N_("""\
Settings that change what an archive means belong to the archive: the site's time zone and
language ([site]), its naming patterns ([identity]), what counts as a gap ([gaps]), retention
([retention]), the 24-hour rule and device clocks ([compliance]), and signing and witnesses
([integrity]). They are stored in ARCHIVE/fieldrec.toml (read-only, sealed by the manifest chain)
when the archive is created, from the configuration that first run was given, and every command
uses them. A --config file may still set run knobs (ingest chunk and task sizes, commit cadence,
fsync, thumbnails, proxies, report, sql), but not change an archive setting: that is refused,
naming the key.

  fieldrec config show --archive A
  fieldrec config set site.language zh-CN --archive A --by "J. Clerk" --reason "the site reads Chinese"
  fieldrec config set retention.routine_months 6 --archive A --by "J. Clerk" --reason "decision 2026-14"
  fieldrec config set compliance.device_utc_offsets '["CAM042=+08:00"]' --archive A --by Desk --reason "new cameras"
  fieldrec config set integrity.witness_paths '["/mnt/witness/archive.wit"]' --archive A --by IT --reason "witness"
  fieldrec config history --archive A

Each change is appended to the `settings_changes` table (who, when, which key, from what, to
what, why) and sealed with the new file. Retention may be lengthened, never shortened below the
regulation's floors. VALUE is read as TOML (6, true, "text", ["a", "b"]); anything else is text.
""")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help=_("show or change the archive's own settings (logged, sealed)"), description=_(HELP),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    show = actions.add_parser("show", help=_("every archive setting with its value"))
    show.add_argument("--archive", required=True, type=Path, metavar="DIR", help=_("the archive folder"))
    add_format(show)
    show.set_defaults(handler=run_show)

    change = actions.add_parser("set", help=_("change one archive setting (logged and sealed)"), description=_(HELP),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    change.add_argument("key", metavar="SECTION.KEY", type=text.arg(text.identifier, what=N_("setting name")),
                        help=_("the setting, as `fieldrec config show` names it (site.language, say)"))
    change.add_argument("value", metavar="VALUE", type=text.arg(text.free_text, max_len=4000),
                        help=_("its new value, read as TOML"))
    change.add_argument("--archive", required=True, type=Path, metavar="DIR", help=_("the archive folder"))
    change.add_argument("--by", required=True, metavar="NAME", type=text.arg(text.person), help=_("who changes it"))
    change.add_argument("--reason", required=True, metavar="TEXT", type=text.arg(text.free_text, max_len=2000),
                        help=_("why (a decision, a ticket)"))
    change.set_defaults(handler=run_set)

    history = actions.add_parser("history", help=_("every change of the archive's settings"))
    history.add_argument("--archive", required=True, type=Path, metavar="DIR", help=_("the archive folder"))
    add_format(history)
    history.set_defaults(handler=run_history)



def _flat(settings: dict[str, dict]) -> list[dict]:
    return [{"key": f"{section}.{key}", "value": json.dumps(value, ensure_ascii=False)}
            for section, table in settings.items() for key, value in table.items()]


def run_show(args: argparse.Namespace) -> int:
    from pipeline.archive import settings
    from pipeline.config import ConfigError

    archive = existing_archive(args.archive)
    try:
        stored = settings.stored(archive)
        config = settings.load(archive)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    rows = _flat(settings.values(config))
    if args.format == "json":
        json.dump({"stored": stored is not None, "settings": settings.values(config)}, sys.stdout, indent=2,
                  ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    emit(rows, ["key", "value"], args.format)
    if stored is None and args.format == "table":
        print(_("(this archive stores no settings yet: these are the defaults; its next writing command stores "
                "them)"), file=sys.stderr)
    return 0


def run_set(args: argparse.Namespace) -> int:
    from pipeline.archive import settings
    from pipeline.config import ConfigError, load_config

    archive = existing_archive(args.archive)
    value = settings.parse_value(args.value)
    with writing(archive, f"config set {args.key}") as run:                  # untranslated: lock note
        current = settings.values(run.config)
        try:
            changed, old = settings.with_value(current, args.key, value)
            config = load_config(None, archive_settings=changed, archive_name=str(archive))
            config.integrity.check_keys()
        except ConfigError as exc:
            raise UsageError(_("{problem}; nothing was changed").format(problem=exc)) from None
        for path in config.integrity.witness_paths:
            outside_archive(path, "integrity.witness_paths", archive)
        section, name = args.key.split(".", 1)
        new = settings.values(config)[section][name]
        if new == old:
            raise UsageError(_("{key} is already {value}; nothing was changed").format(
                key=args.key, value=json.dumps(old, ensure_ascii=False)))
        sha = settings.write(archive, config, run.journal, fsync=run.config.ingest.fsync)
        run.catalog.commit({"settings_changes": [settings.change_row(run.run_id, args.key, old, new, "set", args.by,
                                                                     args.reason, sha)]}, tag=run.run_id)
        run.config = dataclasses.replace(run.config, **{s: getattr(config, s) for s in changed})
    print(_("{key}: {old} -> {new} (by {by}); sealed in {manifest}").format(
        key=args.key, old=json.dumps(old, ensure_ascii=False), new=json.dumps(new, ensure_ascii=False), by=args.by,
        manifest=run.sealed.name if run.sealed else _("the chain")))
    return 0


def run_history(args: argparse.Namespace) -> int:
    from catalog.store import Catalog

    archive = existing_archive(args.archive)
    rows = sorted(Catalog(archive).rows("settings_changes"), key=lambda r: r["at"])
    emit(rows, ["at", "event", "key", "old_value", "new_value", "by", "reason", "run_id"], args.format)
    return 0
