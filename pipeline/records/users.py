"""Accounts of the review service, folded from the append-only ``users`` and ``credentials`` tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from catalog.schema import ROLES
from pipeline.common import inputs
from pipeline.common.clock import new_id
from pipeline.common.i18n import N_, _

ROLE_NAMES = {"officer": N_("officer"), "clerk": N_("records clerk"), "approver": N_("approver"),
              "auditor": N_("auditor"), "admin": N_("admin")}


@dataclass(frozen=True)
class Account:
    user_id: str
    display_name: str
    roles: frozenset[str]
    officer_id: str | None
    active: bool
    password_hash: str | None

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def label(self) -> str:
        return f"{self.display_name} ({self.user_id})" if self.display_name != self.user_id else self.user_id


def accounts(user_rows: list[dict], credential_rows: list[dict]) -> dict[str, Account]:
    """Every account as its events leave it (later events win; ``at`` then file order)."""
    state: dict[str, dict] = {}
    for e in sorted(user_rows, key=lambda r: r["at"]):
        uid = e["user_id"]
        if e["event"] == "add":
            state[uid] = {"display_name": e["display_name"] or uid, "roles": frozenset(e["roles"] or ()),
                          "officer_id": e["officer_id"], "active": True}
        elif uid in state:
            if e["event"] == "roles":
                state[uid]["roles"] = frozenset(e["roles"] or ())
                if e["officer_id"] is not None:
                    state[uid]["officer_id"] = e["officer_id"] or None
            elif e["event"] in ("disable", "enable"):
                state[uid]["active"] = e["event"] == "enable"
    hashes: dict[str, str] = {}
    for c in sorted(credential_rows, key=lambda r: r["set_at"]):
        hashes[c["user_id"]] = c["password_hash"]
    return {uid: Account(uid, s["display_name"], s["roles"], s["officer_id"], s["active"], hashes.get(uid))
            for uid, s in state.items()}


def check_roles(roles: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if not roles:
        raise inputs.InputError(_("give at least one role ({roles})").format(roles=", ".join(ROLES)))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise inputs.InputError(_("unknown role {role} (known: {roles})").format(role=unknown[0], roles=", ".join(ROLES)))
    return tuple(sorted(set(roles)))


def user_event(user_id: str, event: str, *, by: str, at: datetime, roles=None, display_name=None,
               officer_id=None, note=None) -> dict:
    return {"event_id": new_id("usr"), "user_id": user_id, "event": event, "display_name": display_name,
            "roles": list(roles) if roles is not None else None, "officer_id": officer_id, "at": at, "by": by,
            "note": note}


def credential(user_id: str, password_hash: str, *, by: str, at: datetime) -> dict:
    return {"event_id": new_id("cred"), "user_id": user_id, "password_hash": password_hash, "set_at": at, "by": by}
