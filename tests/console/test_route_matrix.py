"""Every route × every kind of person: the expected status, generated from the app's own route table.

The table below (ROUTES) has one entry per route and method of the running app (console, API and
the web chat mounted by dolbom.runner). A route added without an entry here fails
`test_every_route_has_an_entry`; an entry for a route that is gone fails it too.

Seven identities: signed out, a viewer of district A, an operator and an admin of A, an admin of
no district, an operator and an admin of district B. Every route is tried by each with A's ids
(so B's staff try another district's ids); routes with ids in the path or the body are tried a
second time with B's ids (so A's staff try them), the expectation mirrored.

Entries marked `shows=True` render residents: `test_every_resident_page_writes_one_access_row`
walks exactly those and checks the access-log row each writes (§6).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from care import auth, checkins, inbox, invites
from dolbom import clock
from dolbom.runner import build_web_app
from dolbom.settings import Settings
from storage import outbox
from storage.db import Database
from storage.models import (
    AccessLog,
    CheckinSlot,
    Complaint,
    ComplaintStep,
    DeskNotice,
    DeskThread,
    District,
    Dong,
    FamilyContact,
    Inspection,
    InspectionAction,
    InspectionResult,
    InviteCode,
    MonitoringItem,
    Operator,
    OperatorSession,
    Order,
    Outbox,
    PhoneCall,
    Resident,
    ResidentChannel,
    ServiceCatalog,
    SupportLimit,
    Survey,
)
from tests import factories

OUT, VIEW, OP_A, ADM_A, ADM_ALL, OP_B, ADM_B = (
    "signed-out",
    "viewer-A",
    "operator-A",
    "admin-A",
    "admin-all",
    "operator-B",
    "admin-B",
)
IDENTITIES = (OUT, VIEW, OP_A, ADM_A, ADM_ALL, OP_B, ADM_B)
# Who plays whom when the ids are B's instead of A's.
MIRROR = {OUT: OUT, VIEW: VIEW, OP_A: OP_B, ADM_A: ADM_B, ADM_ALL: ADM_ALL, OP_B: OP_A, ADM_B: ADM_A}
_seq = itertools.count(1)


@dataclass
class Side:
    """The ids of one district's things."""

    district_id: int
    dong_id: int
    resident_id: int
    order_id: int
    provider_id: int
    care_manager_id: int
    invite_id: int
    catalog_id: int
    notice_id: int
    outbox_id: int
    operator_id: int
    channel_id: int
    family_id: int
    region_id: int = 0
    inspection_id: int = 0
    item_id: int = 0
    followup_id: int = 0
    slot_id: int = 0  # today's check-in, set once the slots are made
    thread_id: int = 0
    call_id: int = 0
    complaint_id: int = 0
    survey_id: int = 0


@dataclass
class Fixture:
    a: Side
    b: Side
    db: Database


# ---------------------------------------------------------------- expectation shorthands
# Each returns {identity: status} for A's ids. Signed out: pages redirect to /login (303), /api/ answers 401.


def _exp(out: int, view: int, op_a: int, adm_a: int, adm_all: int, op_b: int, adm_b: int) -> dict[str, int]:
    return dict(zip(IDENTITIES, (out, view, op_a, adm_a, adm_all, op_b, adm_b), strict=True))


def public(status: int = 200) -> dict[str, int]:
    return _exp(status, status, status, status, status, status, status)


def staff_list(ok: int = 200, out: int = 303) -> dict[str, int]:
    """A page every operator may see; it shows their own district's things (no ids in it)."""
    return _exp(out, ok, ok, ok, ok, ok, ok)


def staff_thing(ok: int = 200, out: int = 303) -> dict[str, int]:
    """One thing of district A: A's staff and the all-district admin see it, B's staff get 404."""
    return _exp(out, ok, ok, ok, ok, 404, 404)


def writer_list(ok: int, out: int = 303) -> dict[str, int]:
    """A change or export in the operator's own district: viewers 403."""
    return _exp(out, 403, ok, ok, ok, ok, ok)


def writer_thing(ok: int, out: int = 303, other: int = 404) -> dict[str, int]:
    """A change to a thing of district A: viewers 403, B's staff 404 (or `other`)."""
    return _exp(out, 403, ok, ok, ok, other, other)


def admin_list(ok: int = 200) -> dict[str, int]:
    return _exp(303, 403, 403, ok, ok, 403, ok)


def admin_thing(ok: int) -> dict[str, int]:
    return _exp(303, 403, 403, ok, ok, 403, 404)


def desk_tool(ok: int = 200, out: int = 303) -> dict[str, int]:
    """The web chat: operators and admins of any district (each in their own), never viewers.

    Signed out, the page goes to the sign-in form and its JSON calls answer 401.
    """
    return _exp(out, 403, ok, ok, ok, ok, ok)


@dataclass
class Case:
    method: str
    path: str  # the route's template, as the app has it
    expect: dict[str, int]
    fill: Callable[[Side], str] | None = None  # the concrete path for one district's ids
    body: Callable[[Fixture, Side], Any] | None = None  # form dict, or ("json", payload)
    sided: bool = False  # ids of a district in the path or body: tried with B's ids too
    shows: bool = False  # renders residents: one access-log row naming them (§6)


def _note(fx: Fixture, side: Side) -> Any:
    return {"version": "@version", "reason": "보호자와 통화함"}


def _intake(fx: Fixture, side: Side) -> Any:
    # The dong is A's: B's staff (whose district is forced) are refused with 400, nothing stored.
    return {
        "name": "정복녀",
        "phone": "010-5555-0101",
        "service": "meals",
        "units": "5",
        "consent": "yes",
        "dong_id": str(fx.a.dong_id if side is fx.a else fx.b.dong_id),
        "district_id": str(side.district_id),
        "income_tier": "basic",
        "urgency": "normal",
        # Every identity sends the same caller: past the 14-day repeat warning (tested on its own).
        "repeat_ok": "yes",
    }


ROUTES: list[Case] = [
    # The API's schema names every route and field: signed-in staff only (the docs page too).
    Case("GET", "/api/openapi.json", staff_list(out=401)),
    Case("GET", "/healthz", public()),
    Case("GET", "/login", public()),
    # Without the login form's token every sign-in post is refused (double-submit CSRF).
    Case("POST", "/login", public(403), body=lambda fx, s: {"username": "x", "password": "y"}),
    Case("GET", "/", staff_list(), shows=True),
    Case("POST", "/queue/search", staff_list(), body=lambda fx, s: {"q": "주민"}, shows=True),
    Case("GET", "/queue/rows", staff_list(), shows=True),
    Case("GET", "/queue/poll", staff_list()),
    # Assigning ticked orders together: no provider chosen is a kind 400 once the orders are in scope.
    Case("POST", "/queue/assign", writer_thing(400), body=lambda fx, s: {"order_id": str(s.order_id)}, sided=True),
    # Saved queue views are each operator's own: saving answers with the view, another's id is 404.
    Case("POST", "/queue/filters", staff_list(303), body=lambda fx, s: {"name": "급한 식사", "query": "tab=desk"}),
    Case(
        "POST",
        "/queue/filters/{filter_id}/delete",
        _exp(303, 404, 404, 404, 404, 404, 404),
        fill=lambda s: "/queue/filters/2147483647/delete",
    ),
    Case("GET", "/orders/{order_id}", staff_thing(), fill=lambda s: f"/orders/{s.order_id}", sided=True, shows=True),
    Case(
        "POST",
        "/orders/{order_id}/{action}",
        writer_thing(303),
        fill=lambda s: f"/orders/{s.order_id}/note",
        body=_note,
        sided=True,
    ),
    # The asker is already a known person: nothing to merge or tell apart, a kind 422 (B's staff 404);
    # the order brought no new phone, so there is no proposed value to set aside (404).
    Case(
        "POST",
        "/orders/{order_id}/identity/merge",
        writer_thing(422),
        fill=lambda s: f"/orders/{s.order_id}/identity/merge",
        sided=True,
    ),
    Case(
        "POST",
        "/orders/{order_id}/identity/not-same",
        writer_thing(422),
        fill=lambda s: f"/orders/{s.order_id}/identity/not-same",
        sided=True,
    ),
    Case(
        "POST",
        "/orders/{order_id}/proposed/{key}/{decision}",
        writer_thing(404),
        fill=lambda s: f"/orders/{s.order_id}/proposed/phone/set-aside",
        sided=True,
    ),
    Case("GET", "/intake", writer_list(200)),
    Case("POST", "/intake", _exp(303, 403, 303, 303, 303, 400, 400), body=_intake, sided=True),
    Case("GET", "/residents", staff_list(), shows=True),
    Case("POST", "/residents/search", staff_list(), body=lambda fx, s: {"q": "주민"}, shows=True),
    Case(
        "GET",
        "/residents/{resident_id}",
        staff_thing(),
        fill=lambda s: f"/residents/{s.resident_id}",
        sided=True,
        shows=True,
    ),
    Case(
        "GET",
        "/residents/{resident_id}/edit",
        writer_thing(200),
        fill=lambda s: f"/residents/{s.resident_id}/edit",
        sided=True,
        shows=True,
    ),
    Case(
        "POST",
        "/residents/{resident_id}/edit",
        writer_thing(303),
        fill=lambda s: f"/residents/{s.resident_id}/edit",
        body=lambda fx, s: {"address": "월드컵로 1", "dong_id": str(s.dong_id)},
        sided=True,
    ),
    Case(
        "POST",
        "/residents/{resident_id}/bindings/{binding_id}/{decision}",
        writer_thing(303),
        fill=lambda s: f"/residents/{s.resident_id}/bindings/{s.channel_id}/confirm",
        sided=True,
    ),
    Case(
        "POST",
        "/residents/{resident_id}/family/{family_id}/{decision}",
        writer_thing(303),
        fill=lambda s: f"/residents/{s.resident_id}/family/{s.family_id}/confirm",
        sided=True,
    ),
    Case(
        "POST",
        "/residents/{resident_id}/eligibility",
        writer_thing(303),
        fill=lambda s: f"/residents/{s.resident_id}/eligibility",
        body=lambda fx, s: {
            "eligible": "yes",
            "ground": "elderly",
            "situations": "no_family_care",
            "income_tier": "basic",
            "valid_from": "2026-01-01",
        },
        sided=True,
    ),
    Case(
        "POST",
        "/orders/{order_id}/funding/{funding}",
        writer_thing(303),
        fill=lambda s: f"/orders/{s.order_id}/funding/self_paid",
        body=lambda fx, s: {"consent_note": "본인이 전액 부담에 동의함"},
        sided=True,
    ),
    # The world's order is not accepted yet: a kind 400 (B's staff 404).
    Case(
        "POST",
        "/orders/{order_id}/visits/{step}",
        writer_thing(400),
        fill=lambda s: f"/orders/{s.order_id}/visits/record",
        body=lambda fx, s: {"day": "2026-11-02", "kind": "delivered", "units": "1"},
        sided=True,
    ),
    Case(
        "POST", "/residents/export", writer_list(200), body=lambda fx, s: {"q": "", "reason": "월말 점검"}, shows=True
    ),
    Case("GET", "/providers", staff_list()),
    Case(
        "POST",
        "/providers/{provider_id}",
        admin_thing(303),
        fill=lambda s: f"/providers/{s.provider_id}",
        body=lambda fx, s: {"weekly_capacity": "21", "active": "yes"},
        sided=True,
    ),
    Case("GET", "/admin/operators", admin_list()),
    # A district's admin names another district in the form: the new operator is still theirs (checked below).
    Case(
        "POST",
        "/admin/operators",
        admin_list(303),
        body=lambda fx, s: {
            "username": f"new{next(_seq)}",
            "password": "a-long-enough-passphrase-42",
            "role": "operator",
            "district_id": str(s.district_id),
        },
        sided=True,
    ),
    Case(
        "POST",
        "/admin/operators/{operator_id}",
        admin_thing(303),
        fill=lambda s: f"/admin/operators/{s.operator_id}",
        body=lambda fx, s: {"role": "operator", "active": "yes"},
        sided=True,
    ),
    Case(
        "GET", "/admin/catalog", admin_thing(200), fill=lambda s: f"/admin/catalog?district={s.district_id}", sided=True
    ),
    Case(
        "POST",
        "/admin/catalog/{entry_id}",
        admin_thing(303),
        fill=lambda s: f"/admin/catalog/{s.catalog_id}",
        body=lambda fx, s: {"unit_price": "9000", "active": "yes"},
        sided=True,
    ),
    Case(
        "POST",
        "/admin/catalog",
        admin_thing(303),
        body=lambda fx, s: {"district_id": str(s.district_id), "year": "2031"},
        sided=True,
    ),
    # The district directory (console/routes/directory.py). A's admin is sent on to their one district.
    Case("GET", "/admin/setup", _exp(303, 403, 403, 303, 200, 403, 303)),
    Case("GET", "/admin/districts", admin_list()),
    # Only an admin of no district adds a district (A's and B's admins: 403).
    Case(
        "POST",
        "/admin/districts",
        _exp(303, 403, 403, 403, 303, 403, 403),
        body=lambda fx, s: {"code": f"N{next(_seq)}", "name": f"새구{next(_seq)}"},
    ),
    Case(
        "GET",
        "/admin/districts/{district_id}",
        admin_thing(200),
        fill=lambda s: f"/admin/districts/{s.district_id}",
        sided=True,
    ),
    Case(
        "POST",
        "/admin/districts/{district_id}",
        admin_thing(303),
        fill=lambda s: f"/admin/districts/{s.district_id}",
        body=lambda fx, s: {"code": f"C{next(_seq)}", "name": "구", "phone": "02-3153-8000", "active": "yes"},
        sided=True,
    ),
    Case(
        "POST",
        "/admin/districts/{district_id}/regions",
        admin_thing(303),
        fill=lambda s: f"/admin/districts/{s.district_id}/regions",
        body=lambda fx, s: {"name": f"권역{next(_seq)}"},
        sided=True,
    ),
    Case(
        "POST",
        "/admin/regions/{region_id}",
        admin_thing(303),
        fill=lambda s: f"/admin/regions/{s.region_id}",
        body=lambda fx, s: {"name": "1권역", "active": "yes"},
        sided=True,
    ),
    Case(
        "POST",
        "/admin/districts/{district_id}/dongs",
        admin_thing(303),
        fill=lambda s: f"/admin/districts/{s.district_id}/dongs",
        body=lambda fx, s: {"name": f"새동{next(_seq)}", "region_id": str(s.region_id)},
        sided=True,
    ),
    Case(
        "POST",
        "/admin/dongs/{dong_id}",
        admin_thing(303),
        fill=lambda s: f"/admin/dongs/{s.dong_id}",
        body=lambda fx, s: {"name": f"동{next(_seq)}", "region_id": str(s.region_id), "active": "yes"},
        sided=True,
    ),
    Case(
        "POST",
        "/admin/districts/{district_id}/providers",
        admin_thing(303),
        fill=lambda s: f"/admin/districts/{s.district_id}/providers",
        body=lambda fx, s: {"name": f"새기관{next(_seq)}", "kind": "cooperative", "svc_meals": "yes"},
        sided=True,
    ),
    Case(
        "GET",
        "/admin/directory/providers/{provider_id}",
        admin_thing(200),
        fill=lambda s: f"/admin/directory/providers/{s.provider_id}",
        sided=True,
    ),
    Case(
        "POST",
        "/admin/directory/providers/{provider_id}",
        admin_thing(303),
        fill=lambda s: f"/admin/directory/providers/{s.provider_id}",
        body=lambda fx, s: {
            "name": "기관",
            "kind": "social_enterprise",
            "weekly_capacity": "20",
            "active": "yes",
            **{f"svc_{c}": "yes" for c in ("meals", "home_care", "escort", "housing")},
            "regions": [str(s.region_id)],
            "leads": [str(s.region_id)],
        },
        sided=True,
    ),
    Case(
        "POST",
        "/admin/districts/{district_id}/care-managers",
        admin_thing(303),
        fill=lambda s: f"/admin/districts/{s.district_id}/care-managers",
        body=lambda fx, s: {"name": f"새매니저{next(_seq)}", "dong_id": str(s.dong_id), "job_type": "nurse"},
        sided=True,
    ),
    Case(
        "POST",
        "/admin/care-managers/{care_manager_id}",
        admin_thing(303),
        fill=lambda s: f"/admin/care-managers/{s.care_manager_id}",
        body=lambda fx, s: {"name": "이민정", "dong_id": str(s.dong_id), "job_type": "social_worker", "active": "yes"},
        sided=True,
    ),
    Case(
        "POST",
        "/admin/support-limit",
        admin_thing(303),
        body=lambda fx, s: {"district_id": str(s.district_id), "year": "2031", "annual_limit": "1700000"},
        sided=True,
    ),
    Case(
        "POST",
        "/admin/catalog-copy",
        admin_thing(303),
        body=lambda fx, s: {"district_id": str(s.district_id), "year": "2032"},
        sided=True,
    ),
    # The first-run link: operators exist here, so every link is dead (a kind 404 page for everyone).
    Case("GET", "/setup/first-admin", public(404), fill=lambda s: "/setup/first-admin?token=not-a-live-link"),
    Case(
        "POST",
        "/setup/first-admin",
        public(404),
        body=lambda fx, s: {
            "token": "not-a-live-link",
            "username": "boss",
            "password": "a-long-enough-passphrase-42",
            "again": "a-long-enough-passphrase-42",
        },
    ),
    Case("GET", "/admin/invites", admin_list()),
    Case(
        "POST",
        "/admin/invites",
        admin_thing(200),
        body=lambda fx, s: {"target": f"cm:{s.care_manager_id}"},
        sided=True,
    ),
    Case(
        "POST",
        "/admin/invites/{invite_id}/withdraw",
        admin_thing(303),
        fill=lambda s: f"/admin/invites/{s.invite_id}/withdraw",
        sided=True,
    ),
    Case("GET", "/admin/district/workbook", admin_list()),
    Case("GET", "/admin/district/workbook/template", admin_list()),
    Case(
        "GET",
        "/admin/district/workbook/export",
        admin_thing(200),
        fill=lambda s: f"/admin/district/workbook/export?district={s.district_id}",
        sided=True,
    ),
    # The district's own workbook, as exported: uploading it again changes nothing.
    Case("POST", "/admin/district/workbook", admin_thing(200), body=lambda fx, s: ("xlsx", s.district_id), sided=True),
    Case("GET", "/admin/access-log", admin_list()),
    Case("POST", "/admin/access-log/export", admin_list(200), body=lambda fx, s: {"reason": "분기 점검"}),
    Case("GET", "/admin/access-log/review", admin_list()),
    Case("GET", "/checkins", staff_list(), shows=True),
    Case("GET", "/checkins/outbox", admin_list(), shows=True),
    Case(
        "POST",
        "/checkins/outbox/{row_id}/requeue",
        admin_thing(303),
        fill=lambda s: f"/checkins/outbox/{s.outbox_id}/requeue",
        sided=True,
    ),
    Case("GET", "/notices", staff_list(), shows=True),
    Case(
        "POST",
        "/notices/{notice_id}/read",
        writer_thing(303),
        fill=lambda s: f"/notices/{s.notice_id}/read",
        sided=True,
    ),
    Case("GET", "/calls", staff_list(), shows=True),
    Case(
        "POST",
        "/calls/{call_id}/done",
        writer_thing(303),
        fill=lambda s: f"/calls/{s.call_id}/done",
        sided=True,
    ),
    Case(
        "GET",
        "/checkins/schedule/{resident_id}",
        staff_thing(),
        fill=lambda s: f"/checkins/schedule/{s.resident_id}",
        sided=True,
        shows=True,
    ),
    Case(
        "POST",
        "/checkins/schedule/{resident_id}",
        writer_thing(303),
        fill=lambda s: f"/checkins/schedule/{s.resident_id}",
        body=lambda fx, s: {"weekdays": "0", "time": "10:00", "alert_family": "yes"},
        sided=True,
    ),
    # The first writer records the follow-up; later ones are told kindly who did (a redirect either way).
    Case(
        "POST",
        "/checkins/{slot_id}/followup",
        writer_thing(303),
        fill=lambda s: f"/checkins/{s.slot_id}/followup",
        body=lambda fx, s: {"outcome": "visit", "note": "방문 요청함"},
        sided=True,
    ),
    Case("GET", "/checkins/attention", staff_list(), shows=True),
    # The docs page is a page: signed out, to the sign-in form (its schema answers 401 above).
    Case("GET", "/api/docs", staff_list(out=303)),
    Case("GET", "/api/settlement", staff_list(out=401)),
    Case("GET", "/settlement", staff_list()),
    Case("GET", "/api/statistics", staff_list(out=401)),
    Case("GET", "/statistics", staff_list()),
    Case("GET", "/statistics/export", staff_list()),
    # A chart the page left for later: an unknown token is 404 for everyone (tokens and districts:
    # tests/console/test_statistics_report.py).
    Case(
        "GET",
        "/statistics/charts/{token}",
        _exp(303, 404, 404, 404, 404, 404, 404),
        fill=lambda s: "/statistics/charts/no-such-token",
    ),
    # A district admin sets their own district's target whatever district the form names; the
    # all-district admin sets the named one.
    Case(
        "POST",
        "/statistics/targets",
        admin_list(303),
        body=lambda fx, s: {"district": str(s.district_id), "service": "meals", "measure": "orders", "monthly": "9"},
        sided=True,
    ),
    # A's district asked for: B's staff get their own report (the district is forced; tested in
    # tests/console/test_statistics_report.py).
    Case(
        "GET",
        "/statistics/report",
        staff_list(),
        fill=lambda s: f"/statistics/report?month=2026-11&district={s.district_id}",
    ),
    Case(
        "GET",
        "/statistics/report/export",
        staff_list(),
        fill=lambda s: f"/statistics/report/export?month=2026-11&district={s.district_id}",
    ),
    Case(
        "POST", "/settlement/export", writer_list(200), body=lambda fx, s: {"month": "2026-11", "reason": "월말 점검"}
    ),
    # 점검: each sees their own district's flags; resolving a flag about A's order: B's staff 404,
    # A's writers 422 (the matrix's order has no visits, so no such flag is open).
    Case("GET", "/checks", staff_list()),
    Case(
        "POST",
        "/checks/{order_id}/resolve",
        writer_thing(422),
        fill=lambda s: f"/checks/{s.order_id}/resolve",
        body=lambda fx, s: {
            "key": f"over_plan:{s.order_id}",
            "fingerprint": "0" * 32,
            "month": "2026-11",
            "note": "확인",
        },
        sided=True,
    ),
    # Each district closes its month once: the first writer of A and of B closes it (303), the next
    # one is told it is closed already (400); the all-district admin must name a district (400).
    Case("POST", "/settlement/close", _exp(303, 403, 303, 400, 400, 303, 400), body=lambda fx, s: {"month": "2025-06"}),
    # No such visit on the order (404); B's staff do not see A's order (404).
    Case(
        "POST",
        "/orders/{order_id}/visits/{visit_id}/correct",
        writer_thing(404),
        fill=lambda s: f"/orders/{s.order_id}/visits/2147483647/correct",
        body=lambda fx, s: {"kind": "delivered", "units": "1", "reason": "정정"},
        sided=True,
    ),
    # The world's order is not completed: a kind 400 (B's staff 404).
    Case(
        "POST",
        "/orders/{order_id}/units/correct",
        writer_thing(400),
        fill=lambda s: f"/orders/{s.order_id}/units/correct",
        body=lambda fx, s: {"delivered_units": "1", "reason": "정정"},
        sided=True,
    ),
    Case("GET", "/statements", staff_list()),
    Case(
        "GET",
        "/statements/{resident_id}",
        staff_thing(),
        fill=lambda s: f"/statements/{s.resident_id}",
        sided=True,
        shows=True,
    ),
    Case(
        "POST",
        "/statements/{resident_id}/payments",
        writer_thing(303),
        fill=lambda s: f"/statements/{s.resident_id}/payments",
        body=lambda fx, s: {
            "month": "2026-11",
            "kind": "payment",
            "day": "2026-11-02",
            "amount": "1000",
            "method": "cash",
        },
        sided=True,
    ),
    Case(
        "POST", "/statements/export", writer_list(200), body=lambda fx, s: {"month": "2026-11", "reason": "월말 점검"}
    ),
    Case("GET", "/api/orders", staff_list(out=401), shows=True),
    Case(
        "GET",
        "/api/orders/{order_id}",
        staff_thing(out=401),
        fill=lambda s: f"/api/orders/{s.order_id}",
        sided=True,
        shows=True,
    ),
    Case(
        "POST",
        "/api/orders/{order_id}/{action}",
        writer_thing(200, out=401),
        fill=lambda s: f"/api/orders/{s.order_id}/note",
        body=lambda fx, s: ("json", {"version": "@version", "reason": "전화 확인"}),
        sided=True,
    ),
    Case("GET", "/api/residents", staff_list(out=401), shows=True),
    Case("POST", "/api/residents/search", staff_list(out=401), body=lambda fx, s: ("json", {"q": "주민"}), shows=True),
    Case(
        "POST",
        "/api/residents/export",
        writer_list(200, out=401),
        body=lambda fx, s: ("json", {"q": "", "reason": "월말 점검"}),
        shows=True,
    ),
    Case(
        "GET",
        "/api/residents/{resident_id:int}",
        staff_thing(out=401),
        fill=lambda s: f"/api/residents/{s.resident_id}",
        sided=True,
        shows=True,
    ),
    Case("GET", "/api/providers", staff_list(out=401)),
    Case("GET", "/chat", desk_tool()),
    Case("GET", "/chat/static/{name}", desk_tool(), fill=lambda s: "/chat/static/chat.js"),
    Case("POST", "/chat/api/start", desk_tool(out=401), body=lambda fx, s: ("json", {})),
    Case("POST", "/chat/api/send", desk_tool(out=401), body=lambda fx, s: ("json", {"text": "안녕하세요"})),
    Case("POST", "/chat/api/press", desk_tool(out=401), body=lambda fx, s: ("json", {"data": "g:home"})),
    Case("GET", "/chat/api/messages", desk_tool(out=401)),
    Case("POST", "/chat/api/messages", desk_tool(out=401), body=lambda fx, s: ("json", {"after": 0})),
    # 상담함: the list, its live figures (no names), one conversation, its actions, settings and canned replies.
    Case("GET", "/inbox", staff_list(), shows=True),
    Case("GET", "/inbox/rows", staff_list(), shows=True),
    Case("GET", "/inbox/poll", staff_list()),
    Case("GET", "/inbox/settings", admin_list()),
    # The all-district admin has no district to set: a kind 400.
    Case(
        "POST",
        "/inbox/settings",
        _exp(303, 403, 403, 303, 400, 403, 303),
        body=lambda fx, s: {
            "first_answer_minutes": "45",
            "assign_limit": "5",
            "office_start": "09:00",
            "office_end": "18:00",
        },
    ),
    Case(
        "POST",
        "/inbox/canned",
        _exp(303, 403, 403, 303, 400, 403, 303),
        body=lambda fx, s: {"code": "hi", "text": "안녕하세요"},
    ),
    Case("GET", "/inbox/{thread_id}", staff_thing(), fill=lambda s: f"/inbox/{s.thread_id}", sided=True, shows=True),
    Case(
        "GET",
        "/inbox/{thread_id}/messages",
        staff_thing(),
        fill=lambda s: f"/inbox/{s.thread_id}/messages",
        sided=True,
        shows=True,
    ),
    Case(
        "POST",
        "/inbox/{thread_id}/{action}",
        writer_thing(303),
        fill=lambda s: f"/inbox/{s.thread_id}/note",
        body=lambda fx, s: {"text": "보호자에게 전화함"},
        sided=True,
    ),
    Case("GET", "/api/inbox", staff_list(out=401), shows=True),
    Case(
        "GET",
        "/api/inbox/{thread_id}",
        staff_thing(out=401),
        fill=lambda s: f"/api/inbox/{s.thread_id}",
        sided=True,
        shows=True,
    ),
    Case(
        "POST",
        "/api/inbox/{thread_id}/{action}",
        writer_thing(200, out=401),
        fill=lambda s: f"/api/inbox/{s.thread_id}/note",
        body=lambda fx, s: ("json", {"text": "보호자에게 전화함"}),
        sided=True,
    ),
    # 민원·사고: the list, the new form (from an order here), the resident search in it, recording, a step.
    Case("GET", "/complaints", staff_list(), shows=True),
    Case(
        "GET",
        "/complaints/new",
        writer_thing(200),
        fill=lambda s: f"/complaints/new?order={s.order_id}",
        sided=True,
        shows=True,
    ),
    Case("POST", "/complaints/export", writer_list(200), body=lambda fx, s: {"reason": "월말 점검"}, shows=True),
    Case("POST", "/complaints/new/search", writer_list(200), body=lambda fx, s: {"q": "주민"}, shows=True),
    # Another district's resident and order in the form: 404, nothing recorded (checked below).
    Case(
        "POST",
        "/complaints",
        writer_thing(303),
        body=lambda fx, s: {
            "category": "service",
            "what_happened": "도시락이 식어서 왔다고 하심",
            "resident_id": str(s.resident_id),
            "order_id": str(s.order_id),
            "provider_id": str(s.provider_id),
        },
        sided=True,
    ),
    Case(
        "GET",
        "/complaints/{complaint_id}",
        staff_thing(),
        fill=lambda s: f"/complaints/{s.complaint_id}",
        sided=True,
        shows=True,
    ),
    Case(
        "POST",
        "/complaints/{complaint_id}/{action}",
        writer_thing(303),
        fill=lambda s: f"/complaints/{s.complaint_id}/step",
        body=lambda fx, s: {"text": "제공기관에 전화해 사정을 들음"},
        sided=True,
    ),
    # 만족도: the page (with the people to call), its download with a reason, the phone survey's answer
    # (the first writer records it, the next ones are told it is written down already: 303 both).
    Case("GET", "/satisfaction", staff_list(), shows=True),
    Case("POST", "/satisfaction/export", writer_list(200), body=lambda fx, s: {"reason": "월말 점검"}, shows=True),
    Case(
        "POST",
        "/satisfaction/{survey_id}/phone",
        writer_thing(303),
        fill=lambda s: f"/satisfaction/{s.survey_id}/phone",
        body=lambda fx, s: {"score": "4", "comment": "친절했어요"},
        sided=True,
    ),
    # 모니터링: inspections of providers. Planning names a provider: another district's is 404.
    Case("GET", "/monitoring", staff_list()),
    Case(
        "POST",
        "/monitoring",
        writer_thing(303),
        body=lambda fx, s: {"provider_id": str(s.provider_id), "kind": "regular", "planned_on": "2026-11-20"},
        sided=True,
    ),
    Case("GET", "/monitoring/checklist", admin_list()),
    # The starting checklist: the fixture's districts have items already, so a kind refusal (422).
    Case(
        "POST",
        "/monitoring/checklist/defaults",
        admin_list(422),
        body=lambda fx, s: {"district_id": str(s.district_id)},
    ),
    # A district's admin adds to their own checklist whatever district the form names.
    Case(
        "POST",
        "/monitoring/checklist",
        admin_list(303),
        body=lambda fx, s: {"district_id": str(s.district_id), "text": f"서비스 시간 기록 확인 {next(_seq)}"},
    ),
    Case(
        "POST",
        "/monitoring/checklist/{item_id}",
        admin_thing(303),
        fill=lambda s: f"/monitoring/checklist/{s.item_id}",
        body=lambda fx, s: {"text": "본인부담금 수납 기록", "position": "1", "active": "yes"},
        sided=True,
    ),
    Case(
        "GET", "/monitoring/{inspection_id}", staff_thing(), fill=lambda s: f"/monitoring/{s.inspection_id}", sided=True
    ),
    Case(
        "POST",
        "/monitoring/{inspection_id}/results",
        writer_thing(303),
        fill=lambda s: f"/monitoring/{s.inspection_id}/results",
        body=lambda fx, s: {f"verdict_{s.item_id}": "fail", f"note_{s.item_id}": "기록 누락", "done_on": "2026-11-20"},
        sided=True,
    ),
    Case(
        "POST",
        "/monitoring/{inspection_id}/followups",
        writer_thing(303),
        fill=lambda s: f"/monitoring/{s.inspection_id}/followups",
        body=lambda fx, s: {"text": "기록 보완", "due_on": "2026-12-20"},
        sided=True,
    ),
    # The first writer closes it; later ones find it closed (a redirect either way).
    Case(
        "POST",
        "/monitoring/followups/{action_id}/done",
        writer_thing(303),
        fill=lambda s: f"/monitoring/followups/{s.followup_id}/done",
        body=lambda fx, s: {"note": "보완 확인"},
        sided=True,
    ),
    # The world's inspection is done and its provider has a bot contact: each writer sends it (again).
    Case(
        "POST",
        "/monitoring/{inspection_id}/share",
        writer_thing(303),
        fill=lambda s: f"/monitoring/{s.inspection_id}/share",
        sided=True,
    ),
    Case(
        "POST",
        "/admin/directory/providers/{provider_id}/consulting",
        admin_thing(303),
        fill=lambda s: f"/admin/directory/providers/{s.provider_id}/consulting",
        body=lambda fx, s: {"consulted_on": "2026-11-02", "consultant": "지원단 김상담"},
        sided=True,
    ),
    Case("GET", "/account/password", staff_list()),
    # The two new passwords differ: the page again with a kind 400, nothing changed.
    Case(
        "POST",
        "/account/password",
        staff_list(400),
        body=lambda fx, s: {
            "current": "x",
            "new": "a-long-enough-passphrase-42",
            "again": "a-long-enough-passphrase-43",
        },
    ),
    Case("POST", "/logout", staff_list(303)),
]


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Return every (method, path) the app answers, read from its own route table."""
    found: set[tuple[str, str]] = set()

    def add(path: str, methods: Any) -> None:
        for m in methods or ():
            found.add((m, path))

    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:  # FastAPI's included routers
            for ctx in contexts():
                add(ctx.path, getattr(ctx.original_route, "methods", None))
        elif getattr(route, "methods", None):
            add(route.path, route.methods)  # type: ignore[attr-defined]
        elif getattr(route, "path", None) != "/static":  # the stylesheet and scripts, for everyone
            raise AssertionError(f"a route the matrix cannot read: {route!r}")
    return found


# ---------------------------------------------------------------- the world


async def _side(s: Any, place: factories.Place, tag: str) -> Side:
    resident = await factories.make_resident(s, place, name=f"{tag}주민", phone=f"+82101111{len(tag):04d}"[:14])
    channel = ResidentChannel(resident_id=resident.id, channel="telegram", user_key=f"chat-{tag}")
    s.add(channel)
    family = FamilyContact(
        resident_id=resident.id, name=f"{tag}가족", relation="딸", channel="telegram", user_key=f"family-{tag}"
    )
    s.add(family)
    order = await factories.make_order(s, resident)
    provider = await factories.make_provider(s, place, is_lead=True)
    manager = await factories.make_care_manager(s, place)
    invite = await invites.create(s, role="care_manager", care_manager_id=manager.id, created_by=None)
    entry = (
        await s.execute(select(ServiceCatalog).where(ServiceCatalog.district_id == place.district_id).limit(1))
    ).scalar_one()
    notice = DeskNotice(
        district_id=place.district_id, kind="assignment_expired", order_id=order.id, title=f"{tag} 알림"
    )
    s.add(notice)
    call = PhoneCall(
        district_id=place.district_id, resident_id=resident.id, order_id=order.id, kind="assigned", text=f"{tag} 안내"
    )
    s.add(call)
    dead = await outbox.enqueue(
        s, district_id=place.district_id, channel="telegram", chat_id=f"chat-{tag}", text=f"{tag}주민님 안부"
    )
    await outbox.mark_dead(s, row_id=dead.id, error="403")  # type: ignore[arg-type]
    target = Operator(username=f"target-{tag}", password_hash="x", role="operator", district_id=place.district_id)
    s.add(target)
    schedule = await checkins.set_schedule(s, resident_id=resident.id, weekdays=list(range(7)), at_minute=0)  # type: ignore[arg-type]
    schedule.effective_from = clock.now() - timedelta(days=2)  # owed today already: the board has a row
    s.add(schedule)
    # Yesterday's check-in went unanswered too: with today's, two in a row (the attention list).
    s.add(
        CheckinSlot(
            resident_id=resident.id,  # type: ignore[arg-type]
            scheduled_at=clock.now() - timedelta(days=1),
            status="missed",
            missed_at=clock.now() - timedelta(days=1),
        )
    )
    provider.contact_channel, provider.contact_user_key = "telegram", f"provider-{tag}"
    s.add(provider)
    item = MonitoringItem(district_id=place.district_id, position=1, text=f"{tag} 서비스 기록 확인")
    s.add(item)
    await s.flush()
    inspection = Inspection(
        district_id=place.district_id,
        provider_id=provider.id,  # type: ignore[arg-type]
        planned_on=clock.today(),
        status="done",
        done_on=clock.today(),
    )
    s.add(inspection)
    await s.flush()
    s.add(InspectionResult(inspection_id=inspection.id, item_id=item.id, item_text=item.text, verdict="pass"))  # type: ignore[arg-type]
    followup = InspectionAction(inspection_id=inspection.id, text=f"{tag} 기록 보완", due_on=clock.today())  # type: ignore[arg-type]
    s.add(followup)
    thread = DeskThread(
        channel="telegram", user_key=f"chat-{tag}", resident_id=resident.id, district_id=place.district_id
    )
    s.add(thread)
    await s.flush()
    await inbox.record_incoming(s, thread=thread, text=f"{tag}주민입니다. 전화 주세요")
    # The bot could not ask them about the order (no messenger on it): the satisfaction page lists them.
    survey = Survey(order_id=order.id)  # type: ignore[arg-type]
    s.add(survey)
    complaint = Complaint(
        district_id=place.district_id,
        category="unkind",
        resident_id=resident.id,
        order_id=order.id,
        provider_id=provider.id,
        what_happened=f"{tag}주민님이 배달원이 불친절했다고 하심",
    )
    s.add(complaint)
    await s.flush()
    return Side(
        district_id=place.district_id,
        dong_id=place.dongs[0].id,  # type: ignore[arg-type]
        resident_id=resident.id,  # type: ignore[arg-type]
        order_id=order.id,  # type: ignore[arg-type]
        provider_id=provider.id,  # type: ignore[arg-type]
        care_manager_id=manager.id,  # type: ignore[arg-type]
        invite_id=invite.id,  # type: ignore[arg-type]
        catalog_id=entry.id,  # type: ignore[arg-type]
        notice_id=notice.id,  # type: ignore[arg-type]
        outbox_id=dead.id,  # type: ignore[arg-type]
        operator_id=target.id,  # type: ignore[arg-type]
        channel_id=channel.id,  # type: ignore[arg-type]
        family_id=family.id,  # type: ignore[arg-type]
        region_id=place.regions[0].id,  # type: ignore[arg-type]
        thread_id=thread.id,  # type: ignore[arg-type]
        call_id=call.id,  # type: ignore[arg-type]
        complaint_id=complaint.id,  # type: ignore[arg-type]
        survey_id=survey.id,  # type: ignore[arg-type]
        inspection_id=inspection.id,  # type: ignore[arg-type]
        item_id=item.id,  # type: ignore[arg-type]
        followup_id=followup.id,  # type: ignore[arg-type]
    )


@pytest.fixture
async def fx(db: Database) -> Fixture:
    async with db.transaction() as s:
        a_place = await factories.make_district(s, name="마포구")
        b_place = await factories.make_district(s, name="은평구")
        a = await _side(s, a_place, "마포")
        b = await _side(s, b_place, "은평")
        people = {
            VIEW: ("viewer", a.district_id),
            OP_A: ("operator", a.district_id),
            ADM_A: ("admin", a.district_id),
            ADM_ALL: ("admin", None),
            OP_B: ("operator", b.district_id),
            ADM_B: ("admin", b.district_id),
        }
        for name, (role, district_id) in people.items():
            s.add(Operator(username=name, password_hash="x", role=role, district_id=district_id))
        await checkins.dispatch_due(s)  # today's slots: the check-in board has residents on it
        for side in (a, b):
            side.slot_id = (
                await s.execute(
                    select(CheckinSlot.id)
                    .where(CheckinSlot.resident_id == side.resident_id)
                    .order_by(CheckinSlot.scheduled_at.desc())  # type: ignore[attr-defined]
                    .limit(1)
                )
            ).scalar_one()
    return Fixture(a=a, b=b, db=db)


@pytest.fixture
def app(db: Database) -> FastAPI:
    return build_web_app(database=db, settings=Settings(session_idle_minutes=30))


@pytest.fixture
async def client(app: FastAPI) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        yield c


async def _session(db: Database, who: str) -> tuple[str, str] | None:
    """Open a fresh console session for an identity (no password round: sign-in has its own tests)."""
    if who == OUT:
        return None
    token, csrf = auth.new_token(), auth.new_token()
    async with db.transaction() as s:
        op = (await s.execute(select(Operator).where(Operator.username == who))).scalar_one()
        now = clock.now()
        s.add(
            OperatorSession(
                id=auth.token_id(token), operator_id=op.id, csrf_token=csrf, created_at=now, last_seen_at=now
            )  # type: ignore[arg-type]
        )
    return token, csrf


async def _resolve(db: Database, body: Any, side: Side) -> Any:
    if body is None:
        return None
    kind, payload = body if isinstance(body, tuple) else ("form", body)
    if kind == "xlsx":
        # A valid workbook for that district (the route is under test here, not the round trip:
        # tests/care/test_workbook.py has that, for every state the directory pages allow).
        from storage.models import District
        from tests import workbooks

        async with db.sessions() as s:
            district = await s.get(District, payload)
        assert district is not None
        return kind, workbooks.new_district(code=district.code, name=district.name)
    if isinstance(payload, dict) and payload.get("version") == "@version":
        async with db.sessions() as s:
            version = (await s.get(Order, side.order_id)).version  # type: ignore[union-attr]
        payload = {**payload, "version": version if kind == "json" else str(version)}
    return kind, payload


async def call(client: httpx.AsyncClient, fx: Fixture, case: Case, side: Side, who: str) -> httpx.Response:
    """Make one request of a case as one identity with one district's ids; return the answer."""
    client.cookies.clear()
    headers: dict[str, str] = {}
    opened = await _session(fx.db, who)
    if opened is not None:
        client.cookies.set("dolbom_session", opened[0])
        headers["X-CSRF-Token"] = opened[1]
    path = case.fill(side) if case.fill else case.path
    resolved = await _resolve(fx.db, case.body(fx, side) if case.body else None, side)
    if resolved is None:
        return await client.request(case.method, path, headers=headers)
    kind, payload = resolved
    if kind == "json":
        return await client.request(case.method, path, json=payload, headers=headers)
    if kind == "xlsx":
        return await client.request(case.method, path, files={"file": ("d.xlsx", payload)}, headers=headers)
    return await client.request(case.method, path, data=payload, headers=headers)


def expected(case: Case, who: str, *, b_ids: bool) -> int:
    """Return the expected status of a case for one identity (mirrored when the ids are B's)."""
    if not b_ids:
        return case.expect[who]
    if who == VIEW:
        # A's viewer on B's things: refused for the role first, else not found.
        own = case.expect[VIEW]
        return own if own in (303, 401, 403) else 404
    return case.expect[MIRROR[who]]


# ---------------------------------------------------------------- the tests


def test_every_route_has_an_entry(app: FastAPI) -> None:
    in_app = app_routes(app)
    in_table = {(c.method, c.path) for c in ROUTES}
    assert in_app - in_table == set(), "routes without an expectation in tests/console/test_route_matrix.py"
    assert in_table - in_app == set(), "expectations for routes the app no longer has"
    assert len(in_table) == len(ROUTES), "one entry per route and method"


async def test_every_route_answers_every_identity_as_expected(
    fx: Fixture, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    surprises: list[str] = []
    checked = 0
    # Sign-out ends the session it is called with only; run it last all the same.
    for case in sorted(ROUTES, key=lambda c: c.path == "/logout"):
        for b_ids in (False, True) if case.sided else (False,):
            side = fx.b if b_ids else fx.a
            for who in IDENTITIES:
                r = await call(client, fx, case, side, who)
                checked += 1
                want = expected(case, who, b_ids=b_ids)
                if r.status_code != want:
                    surprises.append(
                        f"{case.method} {case.fill(side) if case.fill else case.path} as {who}"
                        f" ({'B' if b_ids else 'A'} ids): {r.status_code}, expected {want}"
                    )
    with capsys.disabled():
        print(f"\nroute matrix: {len(ROUTES)} routes, {checked} route × identity requests checked")
    assert surprises == [], "\n".join(surprises)


async def test_nothing_changed_in_the_other_district(fx: Fixture, client: httpx.AsyncClient) -> None:
    """After every identity tried every write with A's ids and B's, B-owned rows hold what only B's staff did."""
    for case in ROUTES:
        if case.method == "POST" and case.path not in ("/logout", "/login"):
            for who in (OP_A, ADM_A, VIEW):
                await call(client, fx, case, fx.b, who)
    async with fx.db.sessions() as s:
        b_resident = await s.get(Resident, fx.b.resident_id)
        assert b_resident is not None and b_resident.address is None
        invite = await s.get(InviteCode, fx.b.invite_id)
        assert invite is not None and invite.expires_at > clock.now()
        notice = await s.get(DeskNotice, fx.b.notice_id)
        assert notice is not None and notice.read_at is None
        dead = await s.get(Outbox, fx.b.outbox_id)
        assert dead is not None and dead.status == "dead"
        order = await s.get(Order, fx.b.order_id)
        assert order is not None and order.version == 1
        # A's admin named district B for a new operator: the operator is A's all the same.
        new_ops = (await s.execute(select(Operator).where(Operator.username.startswith("new")))).scalars().all()  # type: ignore[union-attr]
        assert new_ops and all(op.district_id == fx.a.district_id for op in new_ops)
        # A's operators typed B's dong into the phone form: no order was made in B.
        b_orders = (await s.execute(select(func.count()).where(Order.district_id == fx.b.district_id))).scalar_one()
        assert b_orders == 1
        catalog_2031 = (
            await s.execute(
                select(func.count()).where(ServiceCatalog.district_id == fx.b.district_id, ServiceCatalog.year == 2031)
            )
        ).scalar_one()
        assert catalog_2031 == 0
        # A's admin tried B's district, 권역, 동, providers and care managers: all as they were.
        b_district = await s.get(District, fx.b.district_id)
        assert b_district is not None and b_district.phone is None and b_district.name == "은평구"
        b_dong = await s.get(Dong, fx.b.dong_id)
        assert b_dong is not None and b_dong.active and b_dong.name.endswith("동") and not b_dong.name.startswith("동")
        b_limits = (
            await s.execute(
                select(func.count()).where(SupportLimit.district_id == fx.b.district_id, SupportLimit.year >= 2031)
            )
        ).scalar_one()
        assert b_limits == 0
        # A's staff named B's resident, order and provider in a complaint, and wrote steps and phone answers
        # on B's: nothing of it was recorded.
        b_complaints = list(
            (await s.execute(select(Complaint).where(Complaint.district_id == fx.b.district_id))).scalars()
        )
        assert len(b_complaints) == 1 and b_complaints[0].id == fx.b.complaint_id
        b_steps = (
            await s.execute(select(func.count()).where(ComplaintStep.complaint_id == fx.b.complaint_id))
        ).scalar_one()
        assert b_steps == 0
        b_survey = await s.get(Survey, fx.b.survey_id)
        assert b_survey is not None and b_survey.score is None


async def test_every_resident_page_writes_one_access_row(fx: Fixture, client: httpx.AsyncClient) -> None:
    """Each route marked as showing residents writes exactly one row naming A's residents it showed."""
    async with fx.db.sessions() as s:
        a_residents = set(
            (await s.execute(select(Resident.id).where(Resident.district_id == fx.a.district_id))).scalars()
        )
    walked = 0
    for case in ROUTES:
        if not case.shows:
            continue
        who = OP_A if case.expect[OP_A] != 403 else ADM_A  # admin pages: A's admin
        async with fx.db.sessions() as s:
            before = (await s.execute(select(func.max(AccessLog.id)))).scalar_one() or 0
        r = await call(client, fx, case, fx.a, who)
        assert r.status_code == 200, (case.path, r.status_code)
        async with fx.db.sessions() as s:
            rows = list((await s.execute(select(AccessLog).where(AccessLog.id > before))).scalars())
        looks = [row for row in rows if row.resident_id is not None or row.resident_ids]
        assert len(looks) == 1, (case.path, [(x.action, x.resident_id, x.resident_ids) for x in rows])
        row = looks[0]
        named = set(row.resident_ids or []) | ({row.resident_id} if row.resident_id else set())
        assert fx.a.resident_id in named, (case.path, row.action, named)
        assert named <= a_residents, (case.path, "another district's resident in the row")
        assert row.username == who and row.ip and row.at is not None and row.action
        if "export" in case.path:
            assert row.reason == "월말 점검" and row.row_count == len(named)
        walked += 1
    assert walked >= 15


async def test_lists_of_district_b_show_nothing_of_district_a(fx: Fixture, client: httpx.AsyncClient) -> None:
    """Every page or answer without ids (queue, lists, boards, notices, dead letters, exports) stays in B."""
    tried = 0
    for case in ROUTES:
        if case.fill is not None or case.path in ("/logout", "/login", "/intake"):
            continue
        for who in (OP_B, ADM_B):
            r = await call(client, fx, case, fx.b, who)
            if r.status_code == 200:
                assert "마포주민" not in r.text, (case.method, case.path, who)
                tried += 1
    assert tried >= 30


def test_the_console_has_no_way_to_change_or_delete_the_access_log(app: FastAPI) -> None:
    log_routes = {(m, p) for m, p in app_routes(app) if p.startswith("/admin/access-log")}
    assert log_routes == {
        ("GET", "/admin/access-log"),
        ("POST", "/admin/access-log/export"),
        ("GET", "/admin/access-log/review"),
    }


async def test_the_monthly_review_page_names_actions_in_korean_and_says_what_unusual_means(
    fx: Fixture, client: httpx.AsyncClient
) -> None:
    await call(client, fx, next(c for c in ROUTES if c.path == "/residents"), fx.a, OP_A)
    month = clock.local_now().strftime("%Y-%m")
    r = await call(
        client, fx, Case("GET", "", {}, fill=lambda s: f"/admin/access-log/review?month={month}"), fx.a, ADM_A
    )
    assert r.status_code == 200
    assert "이용자 목록 조회" in r.text and "operator-A" in r.text
    assert "중앙값" in r.text and "다른 구 정보" in r.text
    assert "operator-B" not in r.text


async def test_an_order_cannot_be_given_to_another_districts_provider(fx: Fixture, client: httpx.AsyncClient) -> None:
    screen = Case("POST", "", {}, fill=lambda s: f"/orders/{s.order_id}/screen", body=_note)
    assert (await call(client, fx, screen, fx.a, OP_A)).status_code == 303

    def assign_to(provider_id: int) -> Case:
        return Case(
            "POST",
            "",
            {},
            fill=lambda s: f"/orders/{s.order_id}/assign",
            body=lambda fx_, s: {"version": "@version", "provider_id": str(provider_id)},
        )

    assert (await call(client, fx, assign_to(fx.b.provider_id), fx.a, OP_A)).status_code == 404
    assert (await call(client, fx, assign_to(fx.b.provider_id), fx.a, ADM_ALL)).status_code == 404
    async with fx.db.sessions() as s:
        assert (await s.get(Order, fx.a.order_id)).status == "screening"  # type: ignore[union-attr]
    assert (await call(client, fx, assign_to(fx.a.provider_id), fx.a, OP_A)).status_code == 303
