"""The words tables and pages show for catalog names: column headings and enumerated values.

A table printed for people (``--format table``, the report) shows each heading and each value of an
enumerated column (a status, a retention class, a gap's kind) in the language in use, in the
regulation's terms (docs/glossary.md). CSV and JSON keep the English names and values: programs
read them, and they are a contract. In English a heading is the column's own name, as before.
"""

from __future__ import annotations

from pipeline.common.i18n import NP_, _, pgettext

# Columns whose values are one of a few words (not free text, not an id): shown translated.
ENUMERATED = frozenset({
    "status", "class", "retention_class", "state", "event", "kind", "explanation", "current", "needs", "active",
    "counted_from", "selector", "failure", "result", "source", "officer_source", "time_source", "role",
    "needs_explanation", "important", "last_result", "roles", "entry", "ended_by",
})

COLUMNS = (
    NP_("column", "sha256"), NP_("column", "source_name"), NP_("column", "device_id"), NP_("column", "officer_id"),
    NP_("column", "start_time"), NP_("column", "end_time"), NP_("column", "class"), NP_("column", "retain_until"),
    NP_("column", "state"), NP_("column", "reason"), NP_("column", "device_clock"), NP_("column", "time_source"),
    NP_("column", "first_ingest"), NP_("column", "counted_from"), NP_("column", "clock_problem"),
    NP_("column", "case_id"), NP_("column", "status"), NP_("column", "opened_at"), NP_("column", "closed_at"),
    NP_("column", "files"), NP_("column", "opened_by"), NP_("column", "title"), NP_("column", "officer_source"),
    NP_("column", "first_seen"), NP_("column", "delay_h"), NP_("column", "delay_s"), NP_("column", "recordings"),
    NP_("column", "late"), NP_("column", "clock"), NP_("column", "unknown"), NP_("column", "late_pct"),
    NP_("column", "max_delay_h"), NP_("column", "last_ingest"), NP_("column", "kind"), NP_("column", "path"),
    NP_("column", "moved_to"), NP_("column", "key"), NP_("column", "value"), NP_("column", "at"),
    NP_("column", "event"), NP_("column", "old_value"), NP_("column", "new_value"), NP_("column", "by"),
    NP_("column", "run_id"), NP_("column", "name"), NP_("column", "display_name"), NP_("column", "roles"),
    NP_("column", "active"), NP_("column", "gap_id"), NP_("column", "current"), NP_("column", "duration_s"),
    NP_("column", "where"), NP_("column", "session"), NP_("column", "needs"), NP_("column", "explanation"),
    NP_("column", "label"), NP_("column", "media"), NP_("column", "disc"), NP_("column", "bytes"),
    NP_("column", "verifications"), NP_("column", "last_result"), NP_("column", "last_verified"),
    NP_("column", "size"),
)

VALUES = (
    # status of a recording or sighting; of a case
    NP_("value", "ok"), NP_("value", "damaged"), NP_("value", "unreadable"), NP_("value", "open"),
    NP_("value", "closed"),
    # retention classes (the regulation's), and a recording's retention state
    NP_("value", "routine"), NP_("value", "case"), NP_("value", "permanent"), NP_("value", "other"),
    NP_("value", "expired"), NP_("value", "retained"), NP_("value", "held"), NP_("value", "purged"),
    # a gap's kind and its explanation; a recording's kind
    NP_("value", "within_file"), NP_("value", "between_files"), NP_("value", "overlap"), NP_("value", "clock"),
    NP_("value", "damaged_tail"), NP_("value", "explained"), NP_("value", "unexplained"),
    NP_("value", "awaiting approval"), NP_("value", "not needed"), NP_("value", "video"), NP_("value", "audio"),
    NP_("value", "photo"),
    # why a gap was found (the gaps table's reason)
    NP_("value", "pause"), NP_("value", "forward_jump"), NP_("value", "backwards"), NP_("value", "not_openable"),
    NP_("value", "truncated"), NP_("value", "demux_stopped"), NP_("value", "no_time"),
    NP_("value", "name_container_mismatch"), NP_("value", "before_earliest"), NP_("value", "after_ingest"),
    NP_("value", "sequence_order"),
    # events: settings, device ledger, cases
    NP_("value", "created"), NP_("value", "adopted"), NP_("value", "set"), NP_("value", "register"),
    NP_("value", "handover"), NP_("value", "return"), NP_("value", "fault"), NP_("value", "repair"),
    NP_("value", "reopen"), NP_("value", "close"),
    # where a time or an officer came from; what a retention counts from
    NP_("value", "recording"), NP_("value", "first ingest (device clock not plausible)"),
    NP_("value", "first ingest (no recording time)"), NP_("value", "filename"), NP_("value", "creation_time"), NP_("value", "exif"),
    NP_("value", "ledger"), NP_("value", "none"), NP_("value", "attribution"),
    # what quarantine moves, what verify finds
    NP_("value", "object"), NP_("value", "proxy"), NP_("value", "catalog"), NP_("value", "pass"), NP_("value", "fail"),
    NP_("value", "changed"), NP_("value", "missing"), NP_("value", "untracked"),
    # a review proxy's status
    NP_("value", "skipped"), NP_("value", "failed"),
    # roles of the review service's accounts
    NP_("value", "officer"), NP_("value", "clerk"), NP_("value", "approver"), NP_("value", "auditor"),
    NP_("value", "admin"),
    # yes and no
    NP_("value", "yes"), NP_("value", "no"), NP_("value", "True"), NP_("value", "False"),
)


# how a run ended, as its summary's first line says (``outcome`` in --json stays English)
OUTCOMES = (NP_("outcome", "finished"), NP_("outcome", "interrupted"), NP_("outcome", "failed"))


def outcome(word: str) -> str:
    return pgettext("outcome", word)


def heading(column: str) -> str:
    """A table's heading for ``column``: its name in English, the regulation's term in Chinese."""
    return pgettext("column", column)


def value(column: str, shown: str) -> str:
    """``shown`` (a cell as text) in the language in use, when ``column`` holds one of a few words."""
    if column not in ENUMERATED or not shown:
        return shown
    if column == "roles":
        return ",".join(pgettext("value", part) for part in shown.split(","))
    return pgettext("value", shown)


def yes_no(flag: bool) -> str:
    return _("yes") if flag else _("no")
