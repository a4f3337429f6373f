"""The registry of every column that can hold personal data, and the one purge that goes through it.

Each text/JSON column of storage.models is in exactly one of two places:

- PERSONAL: an `Entry` naming what it holds, whose data it is (a resident's, or staff's) and, for a
  resident's, what the retention purge does to it (delete the row, blank it, a placeholder, or
  null) and how the rows of one resident are found (`ROWS`);
- NOT_PERSONAL: with the reason it never holds personal data (codes, statuses, machine ids).

tests/care/test_personal_data.py fails on a column in neither, so a new column cannot be forgotten;
and it fills every table for one resident through the real services, purges, and finds no trace of
the name, the phone or the address in any column of any table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Select, Table, and_, delete, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from dolbom.i18n import N_, gettext
from storage import models
from storage.models import DeskThread, Order, ResidentChannel

PURGED_NAME: Final = N_("(deleted)")
PURGED_KEY: Final = "purged"

Purge = Literal["delete_row", "null", "blank", "empty_json", "placeholder", "purged_key", "keep"]
Owner = Literal["resident", "staff"]


@dataclass(frozen=True)
class Entry:
    table: str
    column: str
    holds: str
    owner: Owner = "resident"
    purge: Purge = "null"


PERSONAL: Final[tuple[Entry, ...]] = (
    # the resident's own record
    Entry("residents", "name", "name", purge="placeholder"),
    Entry("residents", "phone", "phone"),
    Entry("residents", "phone_last4", "last 4 digits of the phone (for search)"),
    Entry("residents", "address", "address"),
    Entry("resident_channels", "user_key", "messenger account", purge="delete_row"),
    Entry("family_contacts", "name", "family member's name", purge="delete_row"),
    Entry("family_contacts", "relation", "relation to the resident", purge="delete_row"),
    Entry("family_contacts", "phone", "family member's phone", purge="delete_row"),
    Entry("family_contacts", "user_key", "family member's messenger account", purge="delete_row"),
    Entry("checkin_schedules", "weekdays", "when the resident is asked how they are", purge="delete_row"),
    # what was said and done about them
    Entry("orders", "details", "answers given with the request (address, situation)", purge="empty_json"),
    Entry("orders", "notes", "free text"),
    Entry("orders", "requested_by_key", "messenger account that asked"),
    Entry("orders", "proposed", "new values a request brought (address, dong, birth year)", purge="empty_json"),
    Entry("order_history", "reason", "free text typed with a step"),
    Entry("order_history", "actor_name", "name of a resident or family member who acted (staff names stay)"),
    Entry("referrals", "notes", "care manager's free text"),
    Entry("assignments", "decline_reason", "provider's free text"),
    Entry("assignments", "note", "free text"),
    Entry("surveys", "comment", "resident's free text"),
    Entry("surveys", "chat_id", "messenger account"),
    Entry("checkin_slots", "chat_id", "messenger account"),
    Entry("checkin_slots", "alerted", "family and care managers alerted (names, accounts)"),
    Entry("checkin_slots", "note", "free text"),
    Entry("checkin_slots", "followup_note", "the desk's note on a follow-up call (free text)"),
    Entry("conversations", "state", "answers typed into the bot (name, phone, address)", purge="delete_row"),
    Entry("conversations", "user_key", "messenger account", purge="delete_row"),
    Entry("inbound", "chat_id", "messenger account an update came from", purge="delete_row"),
    Entry("inbound", "payload", "the update as Telegram sent it (what the person wrote)", purge="delete_row"),
    Entry("inbound", "answer", "the replies waiting to be sent", purge="delete_row"),
    Entry("inbound", "last_error", "why handling failed, may quote the update", purge="delete_row"),
    Entry("desk_threads", "user_key", "messenger account", purge="purged_key"),
    Entry("desk_messages", "text", "what the resident and the desk wrote", purge="blank"),
    Entry("outbox", "text", "messages about the resident, to them, family, care manager, provider", purge="blank"),
    Entry("outbox", "buttons", "buttons of those messages"),
    Entry("outbox", "chat_id", "messenger account", purge="purged_key"),
    Entry("outbox", "last_error", "the Bot API's answer, may quote the text"),
    Entry("desk_notices", "title", "notices about the resident's orders", purge="placeholder"),
    Entry("desk_notices", "body", "notices about the resident's orders", purge="blank"),
    Entry("phone_calls", "text", "what the desk tells the resident by phone about their order", purge="blank"),
    Entry("eligibility_decisions", "situations", "which of the three 돌봄SOS situations hold", purge="empty_json"),
    Entry("eligibility_decisions", "note", "desk's free text on the decision"),
    Entry("entitlement_entries", "consent_note", "how the resident agreed to pay"),
    Entry("visits", "reason", "why the person was not served that day (their situation)"),
    Entry("billing_check_resolutions", "note", "the desk's note resolving a billing check", purge="blank"),
    Entry("visits", "correction_reason", "why a visit was corrected (may tell their situation)"),
    Entry("settlement_adjustments", "reason", "why a closed month was corrected (free text)", purge="blank"),
    Entry("copay_payments", "reason", "why money was given back (free text)"),
    Entry("access_log", "detail", "what was looked at (may hold a search for the name)"),
    Entry("complaints", "what_happened", "what happened to the resident (complaint, incident)", purge="blank"),
    Entry("complaints", "outcome", "how the complaint ended (free text)"),
    Entry("complaint_steps", "text", "what the desk did about the resident's complaint", purge="blank"),
    # staff and organisations: personal data too, kept while they work with the desk
    Entry("operators", "username", "operator's sign-in name", owner="staff", purge="keep"),
    Entry("operators", "display_name", "operator's name", owner="staff", purge="keep"),
    Entry("operator_sessions", "ip", "operator's address", owner="staff", purge="keep"),
    Entry("access_log", "username", "operator's sign-in name", owner="staff", purge="keep"),
    Entry("access_log", "ip", "operator's address", owner="staff", purge="keep"),
    Entry("access_log", "reason", "why an operator downloaded data (their words)", owner="staff", purge="keep"),
    Entry("signin_throttles", "key", "a client address, or a hash of a typed username", owner="staff", purge="keep"),
    Entry("care_managers", "name", "care manager's name", owner="staff", purge="keep"),
    Entry("care_managers", "phone", "care manager's phone", owner="staff", purge="keep"),
    Entry("providers", "phone", "provider's phone", owner="staff", purge="keep"),
    Entry("providers", "contact_user_key", "provider's messenger account", owner="staff", purge="keep"),
    Entry("channel_bindings", "user_key", "staff messenger account", owner="staff", purge="keep"),
    Entry("channel_bindings", "display_name", "staff member's name", owner="staff", purge="keep"),
    Entry("invite_codes", "used_by_key", "staff messenger account", owner="staff", purge="keep"),
    Entry("provider_consultings", "consultant", "name of who consulted the provider", owner="staff", purge="keep"),
    Entry("provider_consultings", "note", "the consulting's note (on the organisation)", owner="staff", purge="keep"),
    Entry("inspections", "reason", "why an ad-hoc inspection (about the organisation)", owner="staff", purge="keep"),
    Entry("inspections", "summary", "the inspection's summary (about the organisation)", owner="staff", purge="keep"),
    Entry("inspection_results", "note", "a checklist item's note (on the organisation)", owner="staff", purge="keep"),
    Entry("inspection_actions", "text", "a follow-up asked of the provider", owner="staff", purge="keep"),
    Entry("inspection_actions", "done_note", "how a follow-up was done", owner="staff", purge="keep"),
)

NOT_PERSONAL: Final[dict[tuple[str, str], str]] = {
    **{
        (t, c): "a code or a status"
        for t, c in (
            ("districts", "code"),
            ("service_catalog", "code"),
            ("provider_services", "service_code"),
            ("orders", "receipt_no"),
            ("orders", "service_code"),
            ("orders", "urgency"),
            ("orders", "source"),
            ("orders", "status"),
            ("orders", "requested_by_channel"),
            ("order_history", "action"),
            ("order_history", "from_status"),
            ("order_history", "to_status"),
            ("order_history", "actor_kind"),
            ("order_history", "channel"),
            ("assignments", "status"),
            ("referrals", "urgency"),
            ("residents", "income_tier"),
            ("resident_channels", "channel"),
            ("resident_channels", "language"),
            ("family_contacts", "channel"),
            ("consents", "channel"),
            ("consents", "text_version"),
            ("channel_bindings", "channel"),
            ("channel_bindings", "role"),
            ("invite_codes", "role"),
            ("operators", "role"),
            ("providers", "kind"),
            ("care_managers", "job_type"),
            ("providers", "contact_channel"),
            ("conversations", "channel"),
            ("conversations", "language"),
            ("desk_threads", "channel"),
            ("desk_threads", "reason"),
            ("desk_threads", "status"),
            ("desk_messages", "direction"),
            ("canned_replies", "code"),
            ("outbox", "channel"),
            ("outbox", "kind"),
            ("outbox", "status"),
            ("checkin_slots", "status"),
            ("checkin_slots", "answer"),
            ("checkin_slots", "channel"),
            ("checkin_slots", "followup"),
            ("surveys", "channel"),
            ("desk_notices", "kind"),
            ("phone_calls", "kind"),
            ("surveys", "received"),
            ("statistics_targets", "service_code"),
            ("statistics_targets", "measure"),
            ("access_log", "action"),
            ("eligibility_decisions", "ground"),
            ("eligibility_decisions", "income_tier"),
            ("entitlement_entries", "service_code"),
            ("entitlement_entries", "funding"),
            ("entitlement_entries", "status"),
            ("visits", "kind"),
            ("visits", "recorded_by_kind"),
            ("visits", "original_kind"),
            ("settlement_closed_lines", "receipt_no"),
            ("settlement_closed_lines", "service_code"),
            ("settlement_closed_lines", "flags"),
            ("settlement_adjustments", "service_code"),
            ("copay_payments", "kind"),
            ("copay_payments", "method"),
            ("complaints", "category"),
            ("complaints", "source"),
            ("complaints", "status"),
            ("providers", "registration"),
            ("inspections", "kind"),
            ("inspections", "status"),
            ("inspection_results", "verdict"),
        )
    },
    ("districts", "name"): "a place",
    ("districts", "phone"): "the desk's public phone number",
    ("districts", "office_hours"): "the desk's opening hours",
    ("regions", "name"): "a place",
    ("dongs", "name"): "a place",
    ("service_catalog", "name"): "the catalog",
    ("service_catalog", "unit_label"): "the catalog",
    ("providers", "name"): "an organisation",
    ("consents", "items"): "the names of the items consented to, not their values",
    ("consents", "purpose"): "the consent text's purpose",
    ("consents", "retention"): "the consent text's retention period",
    ("invite_codes", "code"): "a random one-time code",
    ("operators", "password_hash"): "an argon2 hash",
    ("operator_sessions", "id"): "SHA-256 of a random token",
    ("first_run_links", "token_hash"): "SHA-256 of a random token",
    ("operator_sessions", "csrf_token"): "a random token",
    ("outbox", "ref"): "a reference such as order:12",
    ("outbox", "claimed_by"): "a sender instance id",
    ("inbound", "kind"): "a code or a status",
    ("inbound", "status"): "a code or a status",
    ("resident_channels", "verified_how"): "a code or a status",
    ("family_contacts", "consent_version"): "the consent text's version",
    ("canned_replies", "text"): "a reply the desk wrote for everyone, no one's data",
    ("eligibility_decisions", "decided_by_name"): "the deciding operator's name (staff, kept as in order history)",
    ("entitlement_entries", "consent_by"): "the recording operator's name (staff)",
    ("visits", "recorded_by_name"): "the provider's or operator's name (staff)",
    ("billing_check_resolutions", "flag_key"): "a reference such as over_plan:12",
    ("billing_check_resolutions", "fingerprint"): "a hash of visit ids, days and units",
    ("billing_check_resolutions", "resolved_by_name"): "the resolving operator's name (staff)",
    ("visits", "corrected_by_name"): "the correcting operator's name (staff)",
    ("settlement_closes", "closed_by_name"): "the closing operator's name (staff)",
    ("settlement_closed_lines", "provider_name"): "an organisation",
    ("settlement_adjustments", "created_by_name"): "the correcting operator's name (staff)",
    ("copay_payments", "recorded_by_name"): "the recording operator's name (staff)",
    ("access_log", "resident_ids"): "resident ids (numbers); the log is kept 2 years as the law asks",
    ("surveys", "phone_by_name"): "the operator who wrote down a phone survey's answer (staff)",
    ("complaints", "decided_by"): "who decided the steps: a staff member's name or post, as the desk wrote it",
    ("complaints", "created_by_name"): "the recording operator's name (staff)",
    ("complaints", "closed_by_name"): "the closing operator's name (staff)",
    ("complaint_steps", "operator_name"): "the operator's name (staff)",
    ("saved_filters", "name"): "an operator's label for a queue view (filters only, never a search)",
    ("monitoring_items", "text"): "a checklist item the district wrote for every provider",
    ("inspection_results", "item_text"): "the checklist item's text as it was asked",
    ("saved_filters", "query"): "queue filter codes (tab, status, service, place ids, sort), never a search",
}


def registry() -> dict[tuple[str, str], Entry]:
    """Return the entries by (table, column)."""
    return {(e.table, e.column): e for e in PERSONAL}


# ------------------------------------------------------------------------------ which rows


@dataclass(frozen=True)
class Subject:
    """One resident to forget: their id and the messenger accounts they used."""

    resident_id: int
    chats: tuple[tuple[str, str], ...]

    def orders(self) -> Select[Any]:
        return select(col(Order.id)).where(col(Order.resident_id) == self.resident_id)

    def threads(self) -> Select[Any]:
        mine = col(DeskThread.resident_id) == self.resident_id
        if self.chats:
            mine = or_(mine, tuple_(col(DeskThread.channel), col(DeskThread.user_key)).in_(list(self.chats)))
        return select(col(DeskThread.id)).where(mine)


def _by_resident(t: Table, s: Subject) -> ColumnElement[bool]:
    return t.c.resident_id == s.resident_id


def _by_order(t: Table, s: Subject) -> ColumnElement[bool]:
    return t.c.order_id.in_(s.orders())


def _by_chat(key: str) -> Callable[[Table, Subject], ColumnElement[bool]]:
    def where(t: Table, s: Subject) -> ColumnElement[bool]:
        if not s.chats:
            return t.c.id.is_(None)  # nothing
        return tuple_(t.c.channel, t.c[key]).in_(list(s.chats))

    return where


def _outbox(t: Table, s: Subject) -> ColumnElement[bool]:
    return or_(t.c.resident_id == s.resident_id, _by_chat("chat_id")(t, s))


def _history(t: Table, s: Subject) -> ColumnElement[bool]:
    return t.c.order_id.in_(s.orders())


# How the rows of one resident are found, per table that holds a resident's data.
ROWS: Final[dict[str, Callable[[Table, Subject], ColumnElement[bool]]]] = {
    "residents": lambda t, s: t.c.id == s.resident_id,
    "resident_channels": _by_resident,
    "family_contacts": _by_resident,
    "checkin_schedules": _by_resident,
    "checkin_slots": _by_resident,
    "orders": _by_resident,
    "order_history": _history,
    "referrals": _by_resident,
    "assignments": _by_order,
    "surveys": lambda t, s: or_(_by_order(t, s), _by_chat("chat_id")(t, s)),
    "conversations": _by_chat("user_key"),
    "desk_threads": lambda t, s: t.c.id.in_(s.threads()),
    "desk_messages": lambda t, s: t.c.thread_id.in_(s.threads()),
    "outbox": _outbox,
    "desk_notices": _by_order,
    "phone_calls": _by_resident,
    "access_log": _by_resident,
    "eligibility_decisions": _by_resident,
    "entitlement_entries": _by_resident,
    "visits": _by_resident,
    "billing_check_resolutions": _by_resident,
    "settlement_adjustments": _by_resident,
    "copay_payments": _by_resident,
    "complaints": _by_resident,
    "complaint_steps": lambda t, s: t.c.complaint_id.in_(
        select(col(models.Complaint.id)).where(col(models.Complaint.resident_id) == s.resident_id)
    ),
    # Telegram updates carry no channel column: the resident's Telegram chats.
    "inbound": lambda t, s: t.c.chat_id.in_([k for c, k in s.chats if c == "telegram"]),
}

# Only these actors' names are the resident's (or their family's); staff names stay in history.
_STAFF_ACTORS: Final = ("operator", "care_manager", "provider", "system")


def _value(entry: Entry) -> Any:
    if entry.purge == "placeholder":
        return gettext(PURGED_NAME)
    if entry.purge == "blank":
        return ""
    if entry.purge == "empty_json":
        return {}
    if entry.purge == "purged_key":
        return PURGED_KEY
    return None


async def forget(session: AsyncSession, *, resident_id: int) -> dict[str, int]:
    """Destroy what every registry entry holds of one resident; return rows touched per table."""
    chats = tuple(
        (c, k)
        for c, k in (
            await session.execute(
                select(col(ResidentChannel.channel), col(ResidentChannel.user_key)).where(
                    col(ResidentChannel.resident_id) == resident_id
                )
            )
        ).all()
    )
    subject = Subject(resident_id=resident_id, chats=chats)
    by_table: dict[str, list[Entry]] = {}
    for entry in PERSONAL:
        if entry.owner == "resident":
            by_table.setdefault(entry.table, []).append(entry)
    # Children before parents (history before orders, messages before threads), deletes last.
    touched: dict[str, int] = {}
    for table in reversed(models.metadata.sorted_tables):
        entries = by_table.get(table.name)
        if not entries:
            continue
        where = ROWS[table.name](table, subject)
        if table.name == "outbox":
            # What was not sent yet is not sent at all.
            await session.execute(
                update(table)
                .where(where, table.c.status.in_(["pending", "claimed"]))
                .values(status="cancelled")
                .execution_options(synchronize_session=False)
            )
        result: Any = None
        if any(e.purge == "delete_row" for e in entries):
            result = await session.execute(delete(table).where(where).execution_options(synchronize_session=False))
        else:
            values = {e.column: _value(e) for e in entries if e.column != "actor_name"}
            if values:
                result = await session.execute(
                    update(table).where(where).values(**values).execution_options(synchronize_session=False)
                )
            if table.name == "order_history":
                await session.execute(
                    update(table)
                    .where(and_(where, table.c.actor_kind.not_in(_STAFF_ACTORS)))
                    .values(actor_name=None)
                    .execution_options(synchronize_session=False)
                )
        touched[table.name] = result.rowcount if result is not None else 0
    return touched
