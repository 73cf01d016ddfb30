"""Access requests and their decisions: who may view, export or purge what, and until when.

A request (``access_requests``) asks to view or export a recording or a case, or to purge a
recording or whatever is past retention. An approver decides it (``access_decisions``): grant
for a period, deny, or later revoke a grant. Nobody decides their own request. A grant is current
while now lies in its period and no later decision revoked it; only the requester may use it.
The request id (``REQ-...``) is the approval reference that ``fieldrec export`` and ``fieldrec
purge`` accept, in place of the free text they once took.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from catalog.schema import REQUEST_ACTIONS
from catalog.store import Catalog
from pipeline.common import inputs
from pipeline.common.clock import new_id
from pipeline.common.i18n import _
from pipeline.records import outbox
from pipeline.rules.clocks import placed_end, placed_start
from pipeline.rules.custody import attribute, holder_periods
from pipeline.rules.retention import Subject, matches

TARGETS = {"view": ("recording", "case"), "export": ("recording", "case"), "purge": ("recording", "expired")}


class AccessRefused(Exception):
    """The request, decision or use of a grant is not allowed; the message says why."""


@dataclass(frozen=True)
class Request:
    row: dict
    decisions: tuple[dict, ...]          # in time order

    @property
    def request_id(self) -> str:
        return self.row["request_id"]

    @property
    def requested_by(self) -> str:
        return self.row["requested_by"]

    @property
    def decision(self) -> dict | None:
        return self.decisions[-1] if self.decisions else None

    @property
    def grant(self) -> dict | None:
        """The grant decision, when the latest decision is one."""
        d = self.decision
        return d if d is not None and d["decision"] == "grant" else None

    def status(self, now: datetime) -> str:
        """pending | granted (current) | scheduled | expired | denied | revoked."""
        d = self.decision
        if d is None:
            return "pending"
        if d["decision"] != "grant":
            return "denied" if d["decision"] == "deny" else "revoked"
        if now < d["valid_from"]:
            return "scheduled"
        return "granted" if now < d["valid_until"] else "expired"

    def covers(self, action: str, sha256: str, cases: set[str]) -> bool:
        """Does this request (whatever its state) ask for ``action`` on this recording?"""
        if self.row["action"] != action and not (action == "view" and self.row["action"] == "export"):
            return False
        kind, target = self.row["target_kind"], self.row["target"]
        if kind == "recording":
            return target == sha256
        if kind == "case":
            return target in cases
        return kind == "expired"


def load_requests(request_rows: list[dict], decision_rows: list[dict]) -> dict[str, Request]:
    by_request: dict[str, list[dict]] = {}
    for d in sorted(decision_rows, key=lambda d: d["decided_at"]):
        by_request.setdefault(d["request_id"], []).append(d)
    return {r["request_id"]: Request(r, tuple(by_request.get(r["request_id"], ())))
            for r in sorted(request_rows, key=lambda r: r["requested_at"])}


def read_requests(archive: Path, spooled: outbox.Outbox | None = None) -> dict[str, Request]:
    """Every request with its decisions: the catalog's, plus what a service has spooled."""
    catalog = Catalog(archive)
    def rows(table: str) -> list[dict]:
        extra = spooled.rows(table) if spooled is not None else outbox.spooled_rows(archive, table)
        have = catalog.rows(table)
        key = outbox.KEYS[table][0]
        seen = {r[key] for r in have}
        return have + [r for r in extra if r[key] not in seen]
    return load_requests(rows("access_requests"), rows("access_decisions"))


# -- new rows ------------------------------------------------------------------------------------
def request_row(*, action: str, target_kind: str, target: str | None, reason: str, by: str, client: str,
                now: datetime) -> dict:
    if action not in REQUEST_ACTIONS:
        raise inputs.InputError(_("unknown action {action}").format(action=inputs.clean_text(action, "action", max_len=20)))
    if target_kind not in TARGETS[action]:
        raise inputs.InputError(_("a {action} request cannot name a {kind}").format(action=action, kind=target_kind))
    if target_kind == "recording":
        target = inputs.sha256(target, _("recording"))
    elif target_kind == "case":
        target = inputs.record_id(target, _("case"))
    else:
        target = None
    return {"request_id": new_id("REQ"), "action": action, "target_kind": target_kind, "target": target,
            "reason": inputs.clean_text(reason, _("reason"), max_len=2000, multiline=True),
            "requested_by": by, "requested_at": now, "client": client}


def decision_row(request: Request, *, decision: str, by: str, now: datetime, valid_until: datetime | None = None,
                 valid_from: datetime | None = None, note: str | None = None, max_days: int = 30) -> dict:
    """A decision on ``request`` by ``by``, or AccessRefused / InputError saying why not."""
    if request.requested_by == by:
        raise AccessRefused(_("nobody decides their own request"))
    status = request.status(now)
    if decision in ("grant", "deny"):
        if status != "pending":
            raise AccessRefused(_("request {id} is {status}, not pending").format(id=request.request_id, status=status))
    elif decision == "revoke":
        if status not in ("granted", "scheduled"):
            raise AccessRefused(_("request {id} is {status}: only a current grant can be revoked").format(
                id=request.request_id, status=status))
    else:
        raise inputs.InputError(_("unknown decision"))
    row = {"decision_id": new_id("DEC"), "request_id": request.request_id, "decision": decision,
           "valid_from": None, "valid_until": None, "decided_by": by, "decided_at": now,
           "note": inputs.clean_text(note, _("note"), max_len=2000, required=False, multiline=True)}
    if decision == "grant":
        start = valid_from or now
        if valid_until is None:
            raise inputs.InputError(_("a grant needs the end of its period"))
        if valid_until <= now or valid_until <= start:
            raise inputs.InputError(_("the end of the period must lie in the future and after its start"))
        if start < now - timedelta(minutes=5):
            raise inputs.InputError(_("a grant cannot start in the past"))
        if valid_until - start > timedelta(days=max_days):
            raise inputs.InputError(_("a grant lasts at most {days} days").format(days=max_days))
        row.update(valid_from=start, valid_until=valid_until)
    return row


# -- using a grant ---------------------------------------------------------------------------------
def cases_of(recording: dict | None, assignments: list[dict], handovers: list[dict], config) -> set[str]:
    """The cases whose assignments select this recording (by hash, or its device or officer in a range)."""
    if recording is None:
        return set()
    row = recording
    zone, _ = config.zones().device(row["device_id"])
    start, end = placed_start(row, zone), placed_end(row, zone)
    periods = holder_periods(handovers).get(row["device_id"])
    who = attribute(row["officer_id"], start, periods)
    subject = Subject(row["sha256"], row["device_id"], who.officer_id, start, end or start, row["ingested_at"],
                      important=bool(row.get("important")))
    return {a["case_id"] for a in assignments if a["case_id"] and matches(a, subject)}


def current_grant(requests: dict[str, Request], user_id: str, action: str, sha256: str, cases: set[str],
                  now: datetime) -> Request | None:
    """The user's own current grant that allows ``action`` on the recording, if any (latest ending last)."""
    found = [r for r in requests.values() if r.requested_by == user_id and r.status(now) == "granted"
             and r.covers(action, sha256, cases)]
    return max(found, key=lambda r: r.grant["valid_until"]) if found else None


def check_approval(requests: dict[str, Request], ref: str, *, action: str, by: str | None, now: datetime) -> Request:
    """The request ``ref`` when it is a current grant for ``action`` (used by `fieldrec export` / `purge`).

    ``by``, when given, must be the requester: a grant is personal. Raises AccessRefused with the reason.
    """
    request = requests.get(ref.strip())
    if request is None:
        raise AccessRefused(_("{ref} is not an access request of this archive; approvals are requests granted "
                              "in the review service (`fieldrec serve`), not free text").format(ref=ref))
    if request.row["action"] != action:
        raise AccessRefused(_("{ref} asks to {asked}, not to {action}").format(ref=ref, asked=request.row["action"],
                                                                             action=action))
    status = request.status(now)
    if status != "granted":
        raise AccessRefused(_("{ref} is {status}, not a current grant").format(ref=ref, status=status))
    if request.grant["decided_by"] == request.requested_by:
        raise AccessRefused(_("{ref} was approved by its own requester").format(ref=ref))
    if by is not None and by != request.requested_by:
        raise AccessRefused(_("{ref} was granted to {who}, not to {by}").format(ref=ref, who=request.requested_by, by=by))
    return request
