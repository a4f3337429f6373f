"""The words people see for codes: statuses, services, sources, urgency, income tiers.

Values are msgids; translate them at the edge with `dolbom.i18n.gettext`.
"""

from __future__ import annotations

from dolbom.i18n import N_, gettext

STATUS = {
    "received": N_("Received"),
    "screening": N_("Screening"),
    "assigned": N_("Assigned"),
    "accepted": N_("Accepted"),
    "in_progress": N_("In progress"),
    "done": N_("Done"),
    "cancelled": N_("Cancelled"),
    "rejected": N_("Rejected"),
}
ACTION = {
    "create": N_("Request received"),
    "screen": N_("Screen"),
    "assign": N_("Assign"),
    "reassign": N_("Reassign"),
    "return": N_("Back to the desk"),
    "accept": N_("Accept"),
    "start": N_("Start"),
    "complete": N_("Complete"),
    "cancel": N_("Cancel"),
    "reject": N_("Reject"),
    "note": N_("Note"),
    "desk_complete": N_("Finished at the desk"),
    "refer": N_("Referred to a health centre"),
    "override": N_("Provider chosen outside the proposal"),
    "dispute": N_("Resident says not received"),
    "change_date": N_("Date changed"),
    "correct": N_("Correction"),
}
SERVICE = {
    "home_care": N_("Temporary home care"),
    "short_stay": N_("Short facility stay"),
    "escort": N_("Escort and outings"),
    "housing": N_("Small home repairs"),
    "meals": N_("Meal delivery"),
    "checkin": N_("Safety check-in"),
    "health": N_("Health support"),
    "info": N_("Information and counselling"),
}
SOURCE = {
    "resident": N_("Resident"),
    "family": N_("Family or neighbour"),
    "care_manager": N_("Care manager"),
    "desk_phone": N_("Phone call to the desk"),
    "health_center": N_("Public health centre"),
    "desk_chat": N_("Web chat at the desk"),
}
URGENCY = {"urgent": N_("Urgent"), "normal": N_("Normal")}
INCOME_TIER = {
    "basic": N_("Basic livelihood recipient"),
    "near_poor": N_("Near-poverty group"),
    "general": N_("General"),
    "unknown": N_("Not sure"),
}
ROLE = {"admin": N_("Administrator"), "operator": N_("Operator"), "viewer": N_("Viewer")}


def label(table: dict[str, str], code: str | None, locale: str | None = None) -> str:
    """Return the translated word for a code (the code itself when unknown)."""
    if code is None:
        return ""
    return gettext(table[code], locale) if code in table else code


# How an amount of a service is said: 10식, 2시간, 3일; home care counts 3-hour visits.
QUANTITY = {
    "meals": N_("{n} meals"),
    "short_stay": N_("{n} days"),
    "escort": N_("{n} hours"),
    "housing": N_("{n} hours"),
    "home_care": N_("{n} visits of 3 hours ({hours} hours)"),
}
QUANTITY_DEFAULT = N_("{n} times")
CHANNEL = {
    "console": N_("console"),
    "telegram": N_("Telegram"),
    "webchat": N_("web chat"),
    "phone": N_("phone"),
    "jobs": N_("automatic"),
    "cli": N_("command line"),
}


def quantity(service_code: str, units: int | None, locale: str | None = None) -> str:
    """Return an amount of a service as people say it, e.g. '10식' or '2시간'."""
    if units is None:
        return ""
    msgid = QUANTITY.get(service_code, QUANTITY_DEFAULT)
    return gettext(msgid, locale, n=units, hours=units * 3)


CHECKIN_STATUS = {
    "pending": N_("Not asked yet"),
    "sent": N_("Asked"),
    "reminded": N_("Reminded"),
    "answered": N_("Answered"),
    "missed": N_("No answer"),
    "escalated": N_("No answer, family told"),
    "unreachable": N_("Cannot reach"),
    "skipped": N_("Skipped"),
}
CHECKIN_ANSWER = {"ok": N_("I am fine"), "help": N_("I need help")}
# The service's own answers a request carries (orders.details), as the desk reads them.
DETAIL = {
    "meals": N_("Meals"),
    "hours": N_("Hours"),
    "days": N_("Days of stay"),
    "destination": N_("Where to"),
    "what": N_("What needs fixing"),
    "need": N_("What they need"),
    "asap": N_("As soon as possible"),
}


def detail_value(value: object, locale: str | None = None) -> str:
    """Return a detail's value as text: yes/no in words, everything else as it is."""
    if isinstance(value, bool):
        return gettext(N_("Yes") if value else N_("No"), locale)
    return str(value)


ELIGIBILITY_GROUND = {"elderly": N_("Aged 65 or over"), "disabled": N_("A person with a disability")}
ELIGIBILITY_SITUATION = {
    "cannot_manage_alone": N_("Finds it hard to manage daily life alone"),
    "no_public_service": N_("Uses no public service, or has a gap"),
    "no_family_care": N_("Has no family who can look after them"),
}
STATEMENT_STATE = {
    "paid": N_("Paid in full"),
    "partly_paid": N_("Partly paid"),
    "unpaid": N_("Unpaid"),
    "refund_due": N_("Refund due"),
}
PAYMENT_METHOD = {"transfer": N_("Bank transfer"), "cash": N_("Cash"), "card": N_("Card")}
PAYMENT_KIND = {"payment": N_("Payment"), "refund": N_("Refund")}
SETTLEMENT_FLAG = {
    "undecided": N_("No eligibility decision"),
    "self_paid": N_("Paid by the resident (consent)"),
    "pay_excess": N_("Over cap or limit (consent)"),
    "no_show": N_("No-show (billed by the catalog's rule)"),
}
