"""The access log as the admin reads it: Korean action names, search, export with a reason, monthly review.

Rows are written by the services that show or change residents (given an `Access`), never by
routes; here they are only read. What counts as an unusual volume is defined once below and
shown on the review page in the same words.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from care import auth, residents
from care.auth import Access
from dolbom import clock
from dolbom.i18n import N_, gettext
from storage.models import AccessLog

# Every action the log holds, with its Korean name (msgid in English).
ACTIONS: dict[str, str] = {
    "signin": N_("Signed in"),
    "signin_failed": N_("Sign-in failed"),
    "signin_refused": N_("Sign-in refused (waiting)"),
    "signin_throttled": N_("Sign-in slowed down (too many failures)"),
    "account_locked": N_("Account locked"),
    "password_changed": N_("Changed own password"),
    "signout": N_("Signed out"),
    "queue_view": N_("Viewed the queue"),
    "order_search": N_("Searched orders"),
    "order_view": N_("Viewed an order"),
    "resident_list": N_("Viewed the resident list"),
    "resident_search": N_("Searched residents"),
    "resident_view": N_("Viewed a resident"),
    "resident_update": N_("Changed a resident"),
    "resident_export": N_("Downloaded residents"),
    "resident_intake": N_("Took a phone request"),
    "chat_request": N_("Took a web chat request"),
    "view_checkin_board": N_("Viewed the check-in board"),
    "view_checkin_schedule": N_("Viewed a check-in schedule"),
    "change_checkin_schedule": N_("Changed a check-in schedule"),
    "checkin_followup": N_("Recorded a check-in follow-up"),
    "view_checkin_attention": N_("Viewed people who keep missing check-ins"),
    "notice_list": N_("Viewed desk notices"),
    "phone_call_list": N_("Viewed the phone call list"),
    "phone_call_done": N_("Ticked off a phone call"),
    "view_outbox_review": N_("Viewed unsent messages"),
    "outbox_requeue": N_("Sent a message again"),
    "denied_other_district": N_("Tried another district's data (refused)"),
    "access_log_view": N_("Viewed the access log"),
    "access_log_export": N_("Downloaded the access log"),
    "access_log_review": N_("Viewed the monthly access review"),
    "operator_create": N_("Added an operator"),
    "operator_update": N_("Changed an operator"),
    "provider_update": N_("Changed a provider"),
    "provider_view": N_("Viewed a provider"),
    "catalog_update": N_("Changed the service catalog"),
    "eligibility_decide": N_("Recorded an eligibility decision"),
    "funding_choice": N_("Recorded how an order is paid"),
    "settlement_view": N_("Viewed the settlement"),
    "settlement_export": N_("Downloaded the settlement"),
    "billing_checks_view": N_("Viewed the billing checks"),
    "billing_check_resolve": N_("Resolved a billing check"),
    "settlement_close": N_("Closed a month of settlement"),
    "statistics_view": N_("Viewed the statistics"),
    "statistics_export": N_("Downloaded the statistics"),
    "statistics_target_set": N_("Set a monthly target"),
    "visit_correct": N_("Corrected a visit"),
    "order_units_correct": N_("Corrected an order's delivered units"),
    "statement_list": N_("Viewed the co-payment statements"),
    "statement_view": N_("Viewed a co-payment statement"),
    "statement_export": N_("Downloaded the co-payment statements"),
    "copay_payment": N_("Recorded a co-payment"),
    "copay_refund": N_("Recorded a refund"),
    "catalog_create": N_("Created a catalog year"),
    "district_import": N_("Imported the district workbook"),
    "district_export": N_("Downloaded the district workbook"),
    "invite_create": N_("Made an invite code"),
    "invite_withdrawn": N_("Withdrew an invite code"),
    "invite_unknown": N_("Unknown invite code tried"),
    "binding_created": N_("Messenger account registered"),
    "binding_revoked": N_("Messenger account unregistered"),
    "care_manager_lookup": N_("Care manager looked up a resident"),
    "care_manager_referral": N_("Care manager referred a resident"),
    "care_manager_register": N_("Care manager registered a resident"),
    "care_manager_refused": N_("Care manager refused"),
    "provider_refused": N_("Provider refused"),
    "binding_confirm": N_("Confirmed a messenger account as the resident's own"),
    "binding_revoke": N_("Took back a messenger account"),
    "family_confirm": N_("Confirmed a family member's messenger account"),
    "family_revoke": N_("Took back a family member's messenger account"),
    "resident_merge": N_("Joined a request to the resident's record"),
    "resident_not_same": N_("Marked a request as a different person"),
    "proposal_set_aside": N_("Set aside a change a request proposed"),
    "purge": N_("Personal data destroyed"),
    "first_admin_created": N_("First administrator created with the set-up link"),
    "district_create": N_("Added a district"),
    "district_update": N_("Changed a district"),
    "region_create": N_("Added a region"),
    "region_update": N_("Changed a region"),
    "dong_create": N_("Added a neighbourhood (dong)"),
    "dong_update": N_("Changed a neighbourhood (dong)"),
    "provider_create": N_("Added a provider"),
    "provider_directory_update": N_("Changed a provider's details"),
    "provider_consulting": N_("Recorded a provider's pre-registration consulting"),
    "monitoring_checklist": N_("Changed the monitoring checklist"),
    "monitoring_plan": N_("Planned a monitoring visit"),
    "monitoring_results": N_("Recorded monitoring results"),
    "monitoring_followup": N_("Added a monitoring follow-up"),
    "monitoring_followup_done": N_("Closed a monitoring follow-up"),
    "monitoring_share": N_("Sent monitoring results to a provider"),
    "care_manager_create": N_("Added a care manager"),
    "care_manager_update": N_("Changed a care manager"),
    "support_limit_update": N_("Changed the annual support limit"),
    "catalog_copy_year": N_("Started a catalog year as a copy of the last"),
    "inbox_view": N_("Viewed the inbox"),
    "inbox_thread_view": N_("Read a conversation"),
    "inbox_reply": N_("Answered a conversation"),
    "inbox_note": N_("Wrote an internal note"),
    "inbox_assign": N_("Assigned a conversation"),
    "inbox_take_over": N_("Took over a conversation"),
    "inbox_status": N_("Changed a conversation's status"),
    "inbox_link_order": N_("Linked a conversation to an order"),
    "inbox_settings": N_("Changed the inbox settings"),
    "canned_reply_update": N_("Changed a canned reply"),
    "complaint_list": N_("Viewed the complaints"),
    "complaint_view": N_("Viewed a complaint"),
    "complaint_form": N_("Opened a new complaint for a resident"),
    "complaint_create": N_("Recorded a complaint"),
    "complaint_step": N_("Added a step to a complaint"),
    "complaint_close": N_("Closed a complaint"),
    "complaint_export": N_("Downloaded the complaints"),
    "satisfaction_view": N_("Viewed the satisfaction answers"),
    "satisfaction_export": N_("Downloaded the satisfaction answers"),
    "survey_phone_answer": N_("Wrote down a phone survey answer"),
    "statistics_report": N_("Viewed the monthly statistics report"),
    "statistics_report_export": N_("Downloaded the monthly statistics report"),
}

# Actions that show residents to the person acting (a look, in the sense of the review).
LOOKS = frozenset(
    {
        "queue_view",
        "order_search",
        "order_view",
        "resident_list",
        "resident_search",
        "resident_view",
        "resident_export",
        "view_checkin_board",
        "view_checkin_schedule",
        "view_checkin_attention",
        "notice_list",
        "phone_call_list",
        "settlement_view",
        "billing_checks_view",
        "statement_list",
        "statement_view",
        "statement_export",
    }
)

# "Unusual" on the monthly review: an operator who looked at more than UNUSUAL_FACTOR times the
# median of the operators in the same review, and at least UNUSUAL_FLOOR residents in the month;
# every download of more than EXPORT_FLOOR residents; every attempt on another district's data.
UNUSUAL_FACTOR = 3
UNUSUAL_FLOOR = 200
EXPORT_FLOOR = 100
MSG_UNUSUAL_RULE = N_(
    "Flagged as unusual: an operator who looked at residents more than {factor} times as often as the"
    " median operator this month (and at least {floor} times); every download of more than {export}"
    " residents; every attempt to open another district's data."
)


def action_label(action: str) -> str:
    """Return the Korean name of an access-log action (the code itself when unknown)."""
    msgid = ACTIONS.get(action)
    return gettext(msgid) if msgid else action


def looks_in(row: AccessLog) -> int:
    """Return how many residents a row showed (0 for rows that show none)."""
    if row.action not in LOOKS:
        return 0
    if row.row_count is not None:
        return row.row_count
    return 1 if row.resident_id is not None else 0


async def list_rows(
    session: AsyncSession,
    *,
    access: Access,
    username: str | None = None,
    action: str | None = None,
    resident_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = 200,
) -> list[AccessLog]:
    """Return the access-log rows an admin may read (their district's operators), newest first; the look is logged."""
    access.check_admin()
    rows = await auth.list_access_log(
        session,
        access=access,
        username=username,
        action=action,
        resident_id=resident_id,
        since=since,
        until=until,
        limit=limit,
    )
    await access.log(session, action="access_log_view", detail=f"{len(rows)} rows")
    return rows


async def export(
    session: AsyncSession, *, access: Access, reason: str | None, filters: dict[str, Any]
) -> list[AccessLog]:
    """Return every row matching the filters for a download; one log row with the count and the reason."""
    access.check_admin()
    why = residents.clean_reason(reason)
    rows = await auth.list_access_log(session, access=access, limit=None, **filters)
    shown = {r.resident_id for r in rows if r.resident_id is not None}
    await access.log(
        session, action="access_log_export", resident_ids=sorted(shown), detail=f"{len(rows)} rows", reason=why
    )
    return rows


@dataclass
class OperatorMonth:
    """One operator's month: rows per action, residents looked at, and why it is flagged."""

    username: str
    operator_id: int | None
    counts: dict[str, int] = field(default_factory=dict)
    looks: int = 0
    flags: list[str] = field(default_factory=list)


@dataclass
class Review:
    """The monthly review: one line per operator, the median, the flagged downloads and attempts."""

    month: date
    operators: list[OperatorMonth]
    median_looks: float
    threshold: float
    actions: list[str]


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """Return the start and end (exclusive) of a local month as aware datetimes."""
    start = datetime(month.year, month.month, 1, tzinfo=clock.zone())
    end = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=clock.zone())
    return start, end


async def monthly_review(session: AsyncSession, *, access: Access, month: date) -> Review:
    """Return the month's counts per operator and action with unusual volumes flagged (the look is logged)."""
    access.check_admin()
    start, end = month_bounds(month)
    rows = await auth.list_access_log(session, access=access, since=start, until=end, limit=None)
    by_op: dict[str, OperatorMonth] = {}
    for r in rows:
        if r.operator_id is None:
            continue  # failed sign-ins of unknown names, the jobs: no operator to review
        key = r.username or str(r.operator_id)
        op = by_op.setdefault(key, OperatorMonth(username=key, operator_id=r.operator_id))
        op.counts[r.action] = op.counts.get(r.action, 0) + 1
        op.looks += looks_in(r)
        if r.action == "resident_export" and (r.row_count or 0) > EXPORT_FLOOR:
            op.flags.append(
                gettext(
                    N_("Downloaded {n} residents on {day} (reason: {reason})"),
                    n=r.row_count,
                    day=r.at.astimezone(clock.zone()).strftime("%m-%d"),
                    reason=r.reason or "-",
                )
            )
        if r.action == "denied_other_district":
            op.flags.append(gettext(N_("Tried another district's data: {what}"), what=r.detail or "-"))
    lookers = [op.looks for op in by_op.values() if op.looks > 0]
    median = float(statistics.median(lookers)) if lookers else 0.0
    threshold = max(UNUSUAL_FACTOR * median, float(UNUSUAL_FLOOR))
    for op in by_op.values():
        if op.looks > threshold:
            op.flags.insert(
                0, gettext(N_("Looked at {n} residents (median {median})"), n=op.looks, median=round(median))
            )
    await access.log(session, action="access_log_review", detail=month.strftime("%Y-%m"))
    actions = sorted(
        {a for op in by_op.values() for a in op.counts}, key=lambda a: list(ACTIONS).index(a) if a in ACTIONS else 999
    )
    return Review(
        month=month,
        operators=sorted(by_op.values(), key=lambda o: (-len(o.flags), -o.looks, o.username)),
        median_looks=median,
        threshold=threshold,
        actions=actions,
    )
