"""통계: the figures the district reports, for a period and a scope (district, 권역 or 동).

Every table is counted in the database (GROUP BY); only the durations of the funnel come back one
number per order, because a median and a 90th percentile must be taken the same way on SQLite and
PostgreSQL (linear interpolation, as PostgreSQL's percentile_cont). Amounts come from
care.settlement's lines (the visits of the period, public and resident parts), so the page and the
month's settlement never disagree. The page, the XLSX workbook and the JSON API are all drawn from
the same `Table`s, so they cannot differ.

What is counted where: requests (and their service, source, 동/권역 and group) by the day the order
was received; amounts by the day of the visit (or of the completion, for an order without visits),
from the settlement's lines, so a closed month's frozen lines count and adjustment lines do not;
a provider's assignments by the day they were assigned, its no-shows by the visit's day, its
satisfaction and close-the-loop answers by the day the survey was sent (a phone survey's: the
day the desk wrote down the answer). 정보제공·상담 is split by
orders.details.desk.consult (기초상담 basic / 단순안내 simple), which the desk chooses when it
finishes the order; an info order finished without it shows as 구분 없음.

Requests are the orders received (created) in the period; an order's funnel steps are counted for
the orders received in the period, however late the step came. A resident's 어르신 / 장애인 group
is read from the resident record (65 or older in the period's first year by birth year; the
disability flag).

The figures added for issue 14 §1:
- 사회적경제 share per service (seed 001 reports 나눔반장's share by count): of the orders received in
  the period and completed by a provider, those whose provider is a social-economy organisation.
  Social economy (SOCIAL_ECONOMY) is 사회적기업 (social_enterprise), 사회적협동조합 (social_cooperative),
  협동조합 (cooperative) and 자활기업 (self_sufficiency); a 사회복지기관 (welfare_agency) or a 보건소
  (health_center) is not. A 마을기업 would count too, but the provider kinds have none yet.
- Returns and reassignments, by the day they happened (order history): assignments made (assign and
  reassign), returns to the desk split by who returned it (the provider declined; the deadline passed,
  the system; the desk took it back), reassignments, and the orders that had either.
- Declines by reason: the assignments declined in the period, by the reason code the provider chose
  (the history holds its Korean label, with the provider's words after ": ").
- Check-ins by the slot's scheduled time: people on an active schedule now, the people asked, slots
  due, sent, not sent (no messenger, blocked, or the service was down), skipped on a holiday; of those
  sent: answered (the answer rate), help asked, reminded, missed, alerted (family or care manager).
  A missed one ended with the desk's follow-up when there is one, else a late answer, else is open.
- Monthly targets (seed 000: 식사 월 1,000건, 주거 월 20가구, 이동 월 20가구): set by a district's admin
  per service, counting the orders received in the month and not cancelled — orders (건), people served
  (가구: distinct residents) or units (delivered units when completed, else those ordered). A month cut
  by the period gets its share of the target by days. Shown for a district (all districts: summed),
  not for a 권역 or 동, which have no targets of their own.
- Trends: orders received and not cancelled per service per month, for the period's months, or the 12
  months ending with the period when it is shorter.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import checkins as checkins_care
from care import labels, provider_tasks, settlement
from care import surveys as surveys_care
from care.auth import Access
from care.lifecycle import Status
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, PermissionDenied
from dolbom.i18n import N_, gettext
from storage.models import (
    Assignment,
    CheckinSchedule,
    CheckinSlot,
    District,
    Dong,
    Order,
    OrderHistory,
    Provider,
    Region,
    Resident,
    StatisticsTarget,
    Survey,
    Visit,
)

# How a 정보제공·상담 order was answered (orders.details.desk.consult, set when the desk finishes it).
CONSULT = {"basic": N_("Basic counselling"), "simple": N_("Simple information")}
SOURCE = {**labels.SOURCE}
GROUP = {
    "elderly": N_("Older person (65+)"),
    "disabled": N_("Person with a disability"),
    "elderly_disabled": N_("Older person with a disability"),
    "other": N_("Other"),
    "unknown": N_("Age unknown"),
}
FUNNEL = {
    "requested": N_("Received"),
    "assigned": N_("Assigned"),
    "accepted": N_("Accepted"),
    "completed": N_("Completed"),
}
STEP = {
    "request_assignment": N_("Request to assignment"),
    "assignment_acceptance": N_("Assignment to acceptance"),
    "acceptance_completion": N_("Acceptance to completion"),
    "request_completion": N_("Request to completion"),
}
_MAX_DAYS = 366 * 5
PERIODS = {"month": N_("Month"), "quarter": N_("Quarter"), "year": N_("Year"), "range": N_("Dates")}
# 사회적경제: the kinds of care.directory.PROVIDER_KIND that are social-economy organisations.
SOCIAL_ECONOMY = ("social_enterprise", "social_cooperative", "cooperative", "self_sufficiency")
RETURN = {
    "declined": N_("Declined by the provider"),
    "expired": N_("No answer in time"),
    "taken_back": N_("Taken back by the desk"),
}
CHECKIN = {
    "enrolled": N_("People enrolled now (active schedule)"),
    "people": N_("People asked in the period"),
    "slots": N_("Check-ins due"),
    "sent": N_("Sent (share of those due)"),
    "not_sent": N_("Not sent: no messenger, blocked or service down (share of those due)"),
    "skipped": N_("Skipped on a holiday (share of those due)"),
    "answered": N_("Answered (answer rate, share of those sent)"),
    "help": N_("Asked for help (share of those sent)"),
    "reminded": N_("Reminded (share of those sent)"),
    "missed": N_("Missed (share of those sent)"),
    "escalated": N_("Family or care manager alerted (share of those sent)"),
}
CHECKIN_END = {
    **checkins_care.FOLLOWUPS,
    "late_ok": N_("Answered later: is fine"),
    "late_help": N_("Answered later: asked for help"),
    "open": N_("No answer and no follow-up recorded"),
}
# What a monthly target counts, of the orders received in the month and not cancelled.
MEASURE = {
    "orders": N_("Number of orders"),
    "residents": N_("Number of people served"),
    "units": N_("Units (delivered when completed)"),
}
# The same measures in a word, for the chart's bar names (the table beside has them whole).
MEASURE_SHORT = {"orders": N_("count of orders"), "residents": N_("count of people"), "units": N_("count of units")}
MAX_TARGET = 1_000_000


@dataclass(frozen=True)
class Period:
    """The days counted, first and last included (Asia/Seoul)."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=clock.zone())

    @property
    def end(self) -> datetime:
        after = self.last + timedelta(days=1)
        return datetime(after.year, after.month, after.day, tzinfo=clock.zone())

    @property
    def label(self) -> str:
        return f"{self.first.isoformat()} ~ {self.last.isoformat()}"


def _month(year: int, month: int) -> Period:
    return Period(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))


def parse_period(params: Mapping[str, str]) -> Period:
    """Return the period the filters name: from/to dates, or month=YYYY-MM, quarter=YYYY-Qn, year=YYYY.

    Nothing given: the current month. Raise InvalidInput for anything else.
    """
    bad = InvalidInput(N_("That answer could not be understood."))
    kind = (params.get("period") or "").strip()
    if kind:
        if kind not in PERIODS:
            raise bad
        # The form sends every field; the kind chosen says which one counts.
        wanted = ("from", "to") if kind == "range" else (kind,)
        params = {k: params.get(k, "") for k in wanted}
    first, last = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    month, quarter, year = (params.get(k, "").strip() for k in ("month", "quarter", "year"))
    try:
        if first or last:
            period = Period(date.fromisoformat(first or last), date.fromisoformat(last or first))
        elif month:
            if not re.fullmatch(r"\d{4}-\d{2}", month):
                raise bad
            period = _month(int(month[:4]), int(month[5:]))
        elif quarter:
            found = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", quarter)
            if not found:
                raise bad
            y, q = int(found.group(1)), int(found.group(2))
            period = Period(_month(y, 3 * q - 2).first, _month(y, 3 * q).last)
        elif year:
            if not re.fullmatch(r"\d{4}", year):
                raise bad
            period = Period(date(int(year), 1, 1), date(int(year), 12, 31))
        else:
            today = clock.today()
            period = _month(today.year, today.month)
    except ValueError:
        raise bad from None
    if period.last < period.first or (period.last - period.first).days > _MAX_DAYS or period.first.year < 2000:
        raise bad
    return period


@dataclass(frozen=True)
class Scope:
    """Where: one district (None: every district, for the all-district admin), or a 권역 or 동 in it."""

    district_id: int | None
    region_id: int | None = None
    dong_id: int | None = None
    name: str = ""


async def resolve_scope(
    session: AsyncSession,
    *,
    access: Access,
    district_id: int | None = None,
    region_id: int | None = None,
    dong_id: int | None = None,
) -> Scope:
    """Return the scope an operator may see: their own district always (the district asked is ignored);
    an all-district admin the district they pick (or all). A 권역 or 동 must be inside it."""
    district = access.district_id if access.district_id is not None else district_id
    names: list[str] = []
    if district is not None:
        row = await session.get(District, district)
        if row is None:
            raise NotFound()
        names.append(row.name)
    if dong_id is not None:
        dong = await session.get(Dong, dong_id)
        if dong is None or (district is not None and dong.district_id != district):
            raise NotFound()
        district = dong.district_id
        names.append(dong.name)
        region_id = None
    elif region_id is not None:
        region = await session.get(Region, region_id)
        if region is None or (district is not None and region.district_id != district):
            raise NotFound()
        district = region.district_id
        names.append(region.name)
    return Scope(district_id=district, region_id=region_id, dong_id=dong_id, name=" ".join(names))


@dataclass(frozen=True)
class Column:
    key: str
    title: str  # msgid
    kind: str = "number"  # text | number | share (percent, one decimal) | won | hours


@dataclass(frozen=True)
class Chart:
    """How a table is drawn beside itself (console/charts.py draws it; the total row is left out).

    kind: bar, barh (horizontal bars, for long labels) or line; values: the columns drawn, one
    series each (empty: every number column but those in `skip`); label: the column naming the bars
    or points; stacked: bars on top of each other; by_row: each row is a series and the columns are
    the points (a table of services × months drawn as one line per service).
    """

    kind: str
    values: tuple[str, ...] = ()
    label: str | tuple[str, ...] = "label"  # several columns: their values joined with " · "
    stacked: bool = False
    by_row: bool = False
    skip: tuple[str, ...] = ()


# The chart of each table, by its key (a table may also be given its own `chart=`).
CHARTS: dict[str, Chart] = {
    "services": Chart("barh", ("requests", "completed")),
    "amounts": Chart("barh", ("public", "resident"), stacked=True),
    "sources": Chart("barh", ("requests",)),
    "regions": Chart("bar", ("requests",)),
    "dongs": Chart("barh", ("requests",)),
    "groups": Chart("barh", ("requests",)),
    "funnel": Chart("bar", ("orders",)),
    "durations": Chart("barh", ("median", "p90")),
    "providers": Chart("barh", ("assigned", "completed")),
    "social_economy": Chart("barh", ("completed", "social")),
    "returns": Chart("barh", ("assigned", "returned", "reassigned")),
    "declines": Chart("barh", ("requests",)),
    "checkins": Chart("barh", ("count",)),
    "checkin_outcomes": Chart("barh", ("missed", "alerted")),
    "trends": Chart("line", by_row=True, skip=("total",)),
    "targets": Chart("barh", ("target", "actual"), label=("label", "short", "month")),
}


@dataclass
class Table:
    """One table of the page: the same rows go to the screen, the XLSX sheet and the API."""

    key: str
    title: str  # msgid
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    chart: Chart | None = None

    def __post_init__(self) -> None:
        if self.chart is None:
            self.chart = CHARTS.get(self.key)

    def cells(self, row: Mapping[str, Any]) -> list[Any]:
        """Return a row's values in column order."""
        return [row.get(c.key) for c in self.columns]


@dataclass
class Statistics:
    period: Period
    scope: Scope
    tables: list[Table]

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def as_json(self) -> dict[str, Any]:
        """Return the figures for the API: every table's rows with codes, Korean labels and numbers."""
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "district": self.scope.district_id,
            "region": self.scope.region_id,
            "dong": self.scope.dong_id,
            "columns": {
                t.key: [{"key": c.key, "title": gettext(c.title), "kind": c.kind} for c in t.columns]
                for t in self.tables
            },
            "tables": {t.key: t.rows for t in self.tables},
        }


def share(part: int, whole: int) -> float:
    """Return part of whole in percent, one decimal (0.0 for nothing)."""
    return round(part * 100 / whole, 1) if whole else 0.0


def average(total: int, count: int) -> int:
    """Return the average in whole 원, halves rounded up (0 for no cases)."""
    return (2 * total + count) // (2 * count) if count else 0


def percentile(values: list[float], fraction: float) -> float | None:
    """Return the percentile by linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _in_scope(query: Any, scope: Scope, *, resident_joined: bool = False) -> Any:
    if scope.district_id is not None:
        query = query.where(col(Order.district_id) == scope.district_id)
    if scope.dong_id is not None or scope.region_id is not None:
        if not resident_joined:
            query = query.join(Resident, col(Resident.id) == col(Order.resident_id))
        if scope.dong_id is not None:
            query = query.where(col(Resident.dong_id) == scope.dong_id)
        else:
            query = query.where(
                col(Resident.dong_id).in_(select(col(Dong.id)).where(col(Dong.region_id) == scope.region_id))
            )
    return query


def _received(query: Any, period: Period) -> Any:
    return query.where(col(Order.created_at) >= period.start, col(Order.created_at) < period.end)


def _consult() -> Any:
    return col(Order.details)[("desk", "consult")].as_string()


def _service_key(code: str, consult: str | None) -> str:
    if code == "info":
        return f"info:{consult}" if consult in CONSULT else "info:unsorted"
    return code


def service_label(key: str, locale: str | None = None) -> str:
    """Return the words for a service key of the tables (정보제공·상담 split into its two kinds)."""
    if key.startswith("info:"):
        kind = key.split(":", 1)[1]
        base = labels.label(labels.SERVICE, "info", locale)
        part = gettext(CONSULT[kind], locale) if kind in CONSULT else gettext(N_("not sorted"), locale)
        return f"{base}({part})"
    return labels.label(labels.SERVICE, key, locale)


def _service_order(key: str) -> tuple[int, str]:
    codes = list(labels.SERVICE)
    base = key.split(":", 1)[0]
    return (codes.index(base) if base in codes else len(codes), key)


async def _by_service(session: AsyncSession, period: Period, scope: Scope) -> Table:
    done = func.sum(case((col(Order.status) == Status.DONE.value, 1), else_=0))
    cancelled = func.sum(case((col(Order.status).in_([Status.CANCELLED.value, Status.REJECTED.value]), 1), else_=0))
    consult = _consult().label("consult")  # grouped by its label: PostgreSQL sees one expression
    query = select(col(Order.service_code), consult, func.count(), done, cancelled).group_by(
        col(Order.service_code), consult
    )
    counts: dict[str, list[int]] = {}
    for code, consult, n, d, c in (await session.execute(_in_scope(_received(query, period), scope))).all():
        key = _service_key(code, consult)
        acc = counts.setdefault(key, [0, 0, 0])
        acc[0] += n
        acc[1] += int(d or 0)
        acc[2] += int(c or 0)
    requests = sum(v[0] for v in counts.values())
    orders = sum(v[0] - v[2] for v in counts.values())
    completed = sum(v[1] for v in counts.values())
    table = Table(
        "services",
        N_("Requests and orders by service"),
        [
            Column("label", N_("Service"), "text"),
            Column("requests", N_("Requests")),
            Column("requests_share", N_("Share of requests (%)"), "share"),
            Column("orders", N_("Orders (not cancelled)")),
            Column("orders_share", N_("Share of orders (%)"), "share"),
            Column("completed", N_("Completed")),
            Column("completed_share", N_("Share of completed (%)"), "share"),
        ],
    )
    for key in sorted(counts, key=_service_order):
        n, d, c = counts[key]
        table.rows.append({
            "code": key, "label": service_label(key), "requests": n, "requests_share": share(n, requests),
            "orders": n - c, "orders_share": share(n - c, orders), "completed": d,
            "completed_share": share(d, completed),
        })  # fmt: skip
    table.rows.append({
        "code": "total", "label": gettext(N_("Total")), "requests": requests,
        "requests_share": 100.0 if requests else 0.0, "orders": orders, "orders_share": 100.0 if orders else 0.0,
        "completed": completed, "completed_share": 100.0 if completed else 0.0,
    })  # fmt: skip
    return table


async def _grouped(
    session: AsyncSession, period: Period, scope: Scope, key: Any, *, join_resident: bool = False
) -> dict[Any, int]:
    query = select(key, func.count()).group_by(key)
    if join_resident:
        query = query.join(Resident, col(Resident.id) == col(Order.resident_id))
    query = _in_scope(_received(query.select_from(Order), period), scope, resident_joined=join_resident)
    return {k: int(n) for k, n in (await session.execute(query)).all()}


def _count_table(key: str, title: str, head: str, counts: list[tuple[str, str, int]]) -> Table:
    whole = sum(n for _, _, n in counts)
    table = Table(key, title, [Column("label", head, "text"), Column("requests", N_("Requests")),
                               Column("share", N_("Share (%)"), "share")])  # fmt: skip
    for code, text, n in counts:
        table.rows.append({"code": code, "label": text, "requests": n, "share": share(n, whole)})
    table.rows.append({"code": "total", "label": gettext(N_("Total")), "requests": whole,
                       "share": 100.0 if whole else 0.0})  # fmt: skip
    return table


async def _by_source(session: AsyncSession, period: Period, scope: Scope) -> Table:
    counts = await _grouped(session, period, scope, col(Order.source))
    keys = list(SOURCE) + sorted(k for k in counts if k not in SOURCE)
    rows = [(k, labels.label(SOURCE, k), counts.get(k, 0)) for k in keys]
    return _count_table("sources", N_("Requests by source"), N_("Source"), rows)


async def _by_place(session: AsyncSession, period: Period, scope: Scope) -> tuple[Table, Table]:
    counts = await _grouped(session, period, scope, col(Resident.dong_id), join_resident=True)
    dongs = {d.id: d for d in (await session.execute(select(Dong).where(col(Dong.id).in_(
        [k for k in counts if k is not None])))).scalars()}  # fmt: skip
    regions = {r.id: r for r in (await session.execute(select(Region).where(col(Region.id).in_(
        {d.region_id for d in dongs.values()})))).scalars()}  # fmt: skip
    none = gettext(N_("No dong recorded"))
    dong_rows = sorted(
        ((str(k or ""), dongs[k].name if k in dongs else none, n) for k, n in counts.items()),
        key=lambda r: (r[0] == "", r[1]),
    )
    by_region: dict[str, list[Any]] = {}
    for k, n in counts.items():
        region = regions.get(dongs[k].region_id) if k in dongs else None
        code = str(region.id) if region else ""
        by_region.setdefault(code, [region.name if region else none, 0])[1] += n
    region_rows = sorted(((c, v[0], v[1]) for c, v in by_region.items()), key=lambda r: (r[0] == "", r[1]))
    return (
        _count_table("dongs", N_("Requests by dong"), N_("Dong"), dong_rows),
        _count_table("regions", N_("Requests by region"), N_("Region"), region_rows),
    )


async def _by_group(session: AsyncSession, period: Period, scope: Scope) -> Table:
    old = col(Resident.birth_year) <= period.first.year - 65
    disabled = col(Resident.disabled).is_(True)
    key = case(
        (and_(old, disabled), literal("elderly_disabled")),
        (old, literal("elderly")),
        (disabled, literal("disabled")),
        (col(Resident.birth_year).is_(None), literal("unknown")),
        else_=literal("other"),
    )
    counts = await _grouped(session, period, scope, key, join_resident=True)
    rows = [(k, gettext(GROUP[k]), counts.get(k, 0)) for k in GROUP]
    return _count_table("groups", N_("Requests by group (older people, people with disabilities)"),
                        N_("Group"), rows)  # fmt: skip


async def _amounts(session: AsyncSession, period: Period, scope: Scope) -> Table:
    if scope.district_id is not None:
        district_ids: list[int] = [scope.district_id]
    else:
        found = await session.execute(select(col(District.id)).order_by(col(District.id)))
        district_ids = [d for d in found.scalars() if d is not None]
    lines: list[settlement.SettlementLine] = []
    y, m = period.first.year, period.first.month
    while (y, m) <= (period.last.year, period.last.month):
        for district_id in district_ids:
            assert district_id is not None
            for p in await settlement.monthly(session, district_id=district_id, year=y, month=m):
                lines += [line for line in p.lines if period.first <= line.day <= period.last]
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    if scope.dong_id is not None or scope.region_id is not None:
        query = select(col(Resident.id)).where(col(Resident.id).in_({line.resident_id for line in lines}))
        if scope.dong_id is not None:
            query = query.where(col(Resident.dong_id) == scope.dong_id)
        else:
            query = query.where(
                col(Resident.dong_id).in_(select(col(Dong.id)).where(col(Dong.region_id) == scope.region_id))
            )
        inside = set((await session.execute(query)).scalars()) if lines else set()
        lines = [line for line in lines if line.resident_id in inside]
    consult: dict[int, str | None] = {}
    info_ids = {line.order_id for line in lines if line.service_code == "info"}
    if info_ids:
        rows = await session.execute(select(col(Order.id), _consult()).where(col(Order.id).in_(info_ids)))
        consult = {i: c for i, c in rows.all()}
    sums: dict[str, dict[str, Any]] = {}
    for line in lines:
        key = _service_key(line.service_code, consult.get(line.order_id))
        acc = sums.setdefault(key, {"cases": set(), "units": 0, "total": 0, "public": 0, "resident": 0})
        acc["cases"].add(line.order_id)
        for k in ("units", "total", "public", "resident"):
            acc[k] += getattr(line, k)
    table = Table(
        "amounts",
        N_("Amounts by service"),
        [
            Column("label", N_("Service"), "text"),
            Column("cases", N_("Cases")),
            Column("units", N_("Units")),
            Column("total", N_("Total"), "won"),
            Column("public", N_("Public"), "won"),
            Column("resident", N_("Resident"), "won"),
            Column("average", N_("Average per case"), "won"),
        ],
    )
    for key in sorted(sums, key=_service_order):
        acc = sums[key]
        cases = len(acc["cases"])
        table.rows.append({"code": key, "label": service_label(key), "cases": cases, "units": acc["units"],
                           "total": acc["total"], "public": acc["public"], "resident": acc["resident"],
                           "average": average(acc["total"], cases)})  # fmt: skip
    cases = len({line.order_id for line in lines})
    total = sum(line.total for line in lines)
    table.rows.append({"code": "total", "label": gettext(N_("Total")), "cases": cases,
                       "units": sum(line.units for line in lines), "total": total,
                       "public": sum(line.public for line in lines),
                       "resident": sum(line.resident for line in lines), "average": average(total, cases)})  # fmt: skip
    return table


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # SQLite hands an aggregate back as naive UTC
        value = value.replace(tzinfo=UTC)
    return value


async def _funnel(session: AsyncSession, period: Period, scope: Scope) -> tuple[Table, Table]:
    # The first assignment, and the first acceptance (from the order's history: an assignment's
    # decided_at moves again when it is done).
    assigned_at = (
        select(func.min(col(Assignment.assigned_at)))
        .where(col(Assignment.order_id) == col(Order.id))
        .correlate(Order)
        .scalar_subquery()
    )
    accepted_at = (
        select(func.min(col(OrderHistory.at)))
        .where(col(OrderHistory.order_id) == col(Order.id), col(OrderHistory.action) == "accept")
        .correlate(Order)
        .scalar_subquery()
    )
    query = select(
        col(Order.id), col(Order.created_at), col(Order.status), col(Order.status_changed_at), assigned_at, accepted_at
    )
    steps: dict[str, list[float]] = {k: [] for k in STEP}
    count = dict.fromkeys(FUNNEL, 0)
    for _id, created, status, changed, assigned, accepted in (
        await session.execute(_in_scope(_received(query, period), scope))
    ).all():
        created, changed, assigned, accepted = (_aware(v) for v in (created, changed, assigned, accepted))
        assert created is not None
        completed = changed if status == Status.DONE.value else None
        count["requested"] += 1
        count["assigned"] += assigned is not None
        count["accepted"] += accepted is not None
        count["completed"] += completed is not None
        for key, later, earlier in (
            ("request_assignment", assigned, created),
            ("assignment_acceptance", accepted, assigned),
            ("acceptance_completion", completed, accepted),
            ("request_completion", completed, created),
        ):
            if later is not None and earlier is not None:
                steps[key].append((later - earlier).total_seconds() / 3600)
    funnel = Table("funnel", N_("From request to completion"), [
        Column("label", N_("Step"), "text"), Column("orders", N_("Orders")),
        Column("share", N_("Share of requests (%)"), "share")])  # fmt: skip
    for key, msgid in FUNNEL.items():
        funnel.rows.append({"code": key, "label": gettext(msgid), "orders": count[key],
                            "share": share(count[key], count["requested"])})  # fmt: skip
    times = Table("durations", N_("How long each step takes (hours)"), [
        Column("label", N_("Step"), "text"), Column("orders", N_("Orders")),
        Column("median", N_("Median (hours)"), "hours"),
        Column("p90", N_("90th percentile (hours)"), "hours")])  # fmt: skip
    for key, msgid in STEP.items():
        med, p90 = percentile(steps[key], 0.5), percentile(steps[key], 0.9)
        times.rows.append({"code": key, "label": gettext(msgid), "orders": len(steps[key]),
                           "median": None if med is None else round(med, 1),
                           "p90": None if p90 is None else round(p90, 1)})  # fmt: skip
    return funnel, times


async def _providers(session: AsyncSession, period: Period, scope: Scope) -> Table:
    st = col(Assignment.status)

    def n(*statuses: str) -> Any:
        return func.sum(case((st.in_(statuses), 1), else_=0))

    query = (
        select(col(Assignment.provider_id), func.count(), n("accepted", "done"), n("declined"), n("expired"), n("done"))
        .select_from(Assignment)
        .join(Order, col(Order.id) == col(Assignment.order_id))
        .where(col(Assignment.assigned_at) >= period.start, col(Assignment.assigned_at) < period.end)
        .group_by(col(Assignment.provider_id))
    )
    figures: dict[int, dict[str, Any]] = {}

    def of(provider_id: int) -> dict[str, Any]:
        return figures.setdefault(provider_id, dict.fromkeys(
            ("assigned", "accepted", "declined", "expired", "completed", "no_shows", "surveys",
             "score_sum", "received_all", "received_partly", "received_not"), 0))  # fmt: skip

    for pid, total, acc, dec, exp, done in (await session.execute(_in_scope(query, scope))).all():
        f = of(pid)
        f.update(assigned=total, accepted=int(acc or 0), declined=int(dec or 0), expired=int(exp or 0),
                 completed=int(done or 0))  # fmt: skip
    visits = (
        select(col(Visit.provider_id), func.count())
        .select_from(Visit)
        .join(Order, col(Order.id) == col(Visit.order_id))
        .where(
            col(Visit.kind) == "no_show",
            col(Visit.day) >= period.first,
            col(Visit.day) <= period.last,
            col(Visit.provider_id).is_not(None),
        )
        .group_by(col(Visit.provider_id))
    )
    for pid, count in (await session.execute(_in_scope(visits, scope))).all():
        of(pid)["no_shows"] = int(count)
    rec = col(Survey.received)
    asked = func.coalesce(col(Survey.sent_at), col(Survey.phone_at))
    surveys = (
        select(
            col(Assignment.provider_id),
            func.count(col(Survey.score)),
            func.sum(col(Survey.score)),
            func.sum(case((rec == surveys_care.ALL, 1), else_=0)),
            func.sum(case((rec == surveys_care.PARTLY, 1), else_=0)),
            func.sum(case((rec == surveys_care.NONE, 1), else_=0)),
        )
        .select_from(Survey)
        .join(Order, col(Order.id) == col(Survey.order_id))
        .join(Assignment, and_(col(Assignment.order_id) == col(Order.id), col(Assignment.status) == "done"))
        # A phone survey (care.satisfaction) was never sent: it counts by when the desk wrote it down.
        .where(asked >= period.start, asked < period.end)
        .group_by(col(Assignment.provider_id))
    )
    for pid, answered, total, r_all, r_part, r_not in (await session.execute(_in_scope(surveys, scope))).all():
        f = of(pid)
        f.update(surveys=int(answered or 0), score_sum=int(total or 0), received_all=int(r_all or 0),
                 received_partly=int(r_part or 0), received_not=int(r_not or 0))  # fmt: skip
    names = {p.id: p.name for p in (await session.execute(select(Provider).where(col(Provider.id).in_(
        list(figures))))).scalars()} if figures else {}  # fmt: skip
    table = Table("providers", N_("Providers"), [
        Column("label", N_("Provider"), "text"), Column("assigned", N_("Assigned")),
        Column("accepted", N_("Accepted")), Column("declined", N_("Declined")),
        Column("expired", N_("No answer in time")),
        Column("acceptance", N_("Acceptance rate (%)"), "share"), Column("completed", N_("Completed")),
        Column("completion", N_("Completion rate (%)"), "share"), Column("no_shows", N_("No-shows")),
        Column("surveys", N_("Satisfaction answers")), Column("score", N_("Average satisfaction (1–5)"), "hours"),
        Column("received_all", N_("Received it")), Column("received_partly", N_("Received part of it")),
        Column("received_not", N_("Did not receive it"))])  # fmt: skip
    for pid in sorted(figures, key=lambda p: (names.get(p, ""), p)):
        f = figures[pid]
        decided = f["accepted"] + f["declined"] + f["expired"]
        table.rows.append({
            "code": str(pid), "label": names.get(pid, ""), "assigned": f["assigned"], "accepted": f["accepted"],
            "declined": f["declined"], "expired": f["expired"], "acceptance": share(f["accepted"], decided),
            "completed": f["completed"], "completion": share(f["completed"], f["accepted"]),
            "no_shows": f["no_shows"], "surveys": f["surveys"],
            "score": round(f["score_sum"] / f["surveys"], 2) if f["surveys"] else None,
            "received_all": f["received_all"], "received_partly": f["received_partly"],
            "received_not": f["received_not"],
        })  # fmt: skip
    return table


def _months(first: date, last: date) -> list[Period]:
    """Return the calendar months from first's month to last's month, each cut to first..last."""
    months: list[Period] = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        whole = _month(y, m)
        months.append(Period(max(whole.first, first), min(whole.last, last)))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def _month_bucket(column: Any, months: list[Period]) -> Any:
    """Return a CASE giving the index of the month a moment falls in (the query must keep it inside)."""
    if len(months) == 1:
        return literal(0)
    return case(*[(column < p.end, literal(i)) for i, p in enumerate(months[:-1])], else_=literal(len(months) - 1))


def _not_cancelled() -> Any:
    return col(Order.status).not_in([Status.CANCELLED.value, Status.REJECTED.value])


async def _social_economy(session: AsyncSession, period: Period, scope: Scope) -> Table:
    social = func.sum(case((col(Provider.kind).in_(SOCIAL_ECONOMY), 1), else_=0))
    query = (
        select(col(Order.service_code), func.count(), social)
        .select_from(Assignment)
        .join(Order, col(Order.id) == col(Assignment.order_id))
        .join(Provider, col(Provider.id) == col(Assignment.provider_id))
        .where(col(Assignment.status) == "done")
        .group_by(col(Order.service_code))
    )
    counts = {code: (int(n), int(se or 0)) for code, n, se in
              (await session.execute(_in_scope(_received(query, period), scope))).all()}  # fmt: skip
    table = Table("social_economy", N_("Delivered by social-economy providers"), [
        Column("label", N_("Service"), "text"), Column("completed", N_("Completed by a provider")),
        Column("social", N_("By a social-economy provider")),
        Column("share", N_("Social-economy share (%)"), "share")])  # fmt: skip
    for code in sorted(counts, key=_service_order):
        n, se = counts[code]
        table.rows.append({"code": code, "label": service_label(code), "completed": n, "social": se,
                           "share": share(se, n)})  # fmt: skip
    n, se = sum(v[0] for v in counts.values()), sum(v[1] for v in counts.values())
    table.rows.append({"code": "total", "label": gettext(N_("Total")), "completed": n, "social": se,
                       "share": share(se, n)})  # fmt: skip
    return table


async def _returns(session: AsyncSession, period: Period, scope: Scope) -> Table:
    act = col(OrderHistory.action)
    in_period = and_(col(OrderHistory.at) >= period.start, col(OrderHistory.at) < period.end)
    # Who returned it says why: the provider declined, the deadline chaser (system), or the desk.
    why = case(
        (col(OrderHistory.actor_kind) == "provider", literal("declined")),
        (col(OrderHistory.actor_kind) == "system", literal("expired")),
        else_=literal("taken_back"),
    )
    inner = (
        select(col(Order.service_code).label("service"), act.label("action"), why.label("why"))
        .select_from(OrderHistory)
        .join(Order, col(Order.id) == col(OrderHistory.order_id))
        .where(act.in_(["assign", "reassign", "return"]), in_period)
    )
    events = _in_scope(inner, scope).subquery()
    query = select(events.c.service, events.c.action, events.c.why, func.count()).group_by(
        events.c.service, events.c.action, events.c.why
    )
    keys = ("assigned", "returned", *RETURN, "reassigned", "orders")
    figures: dict[str, dict[str, int]] = {}
    for code, action, why, n in (await session.execute(query)).all():
        f = figures.setdefault(code, dict.fromkeys(keys, 0))
        if action in ("assign", "reassign"):
            f["assigned"] += int(n)
        if action == "reassign":
            f["reassigned"] += int(n)
        if action == "return":
            f["returned"] += int(n)
            f[why] += int(n)
    touched = _in_scope(
        select(col(Order.service_code), func.count(func.distinct(col(OrderHistory.order_id))))
        .select_from(OrderHistory)
        .join(Order, col(Order.id) == col(OrderHistory.order_id))
        .where(act.in_(["reassign", "return"]), in_period)
        .group_by(col(Order.service_code)),
        scope,
    )
    for code, n in (await session.execute(touched)).all():
        figures.setdefault(code, dict.fromkeys(keys, 0))["orders"] = int(n)
    table = Table("returns", N_("Returns and reassignments"), [
        Column("label", N_("Service"), "text"), Column("assigned", N_("Assignments made")),
        Column("returned", N_("Returned to the desk")), Column("returned_share", N_("Returned (%)"), "share"),
        *[Column(k, t) for k, t in RETURN.items()], Column("reassigned", N_("Reassigned")),
        Column("orders", N_("Orders returned or reassigned"))])  # fmt: skip
    total = dict.fromkeys(keys, 0)
    for code in sorted(figures, key=_service_order):
        f = figures[code]
        for k in keys:
            total[k] += f[k]
        table.rows.append({"code": code, "label": service_label(code), **f,
                           "returned_share": share(f["returned"], f["assigned"])})  # fmt: skip
    table.rows.append({"code": "total", "label": gettext(N_("Total")), **total,
                       "returned_share": share(total["returned"], total["assigned"])})  # fmt: skip
    return table


async def _declines(session: AsyncSession, period: Period, scope: Scope) -> Table:
    # The reason is written as the Korean label of its code, with the provider's words after ": ".
    reason = col(Assignment.decline_reason)
    whens = []
    for code, msgid in provider_tasks.DECLINE_REASONS.items():
        label = gettext(msgid, "ko")
        whens.append((or_(reason == label, reason.like(label + ": %")), literal(code)))
    inner = (
        select(case(*whens, else_=literal("unsorted")).label("reason"))
        .select_from(Assignment)
        .join(Order, col(Order.id) == col(Assignment.order_id))
        .where(
            col(Assignment.status) == "declined",
            col(Assignment.decided_at) >= period.start,
            col(Assignment.decided_at) < period.end,
        )
    )
    reasons = _in_scope(inner, scope).subquery()
    query = select(reasons.c.reason, func.count()).group_by(reasons.c.reason)
    counts = {k: int(n) for k, n in (await session.execute(query)).all()}
    rows = [(k, gettext(t), counts.get(k, 0)) for k, t in provider_tasks.DECLINE_REASONS.items()]
    if counts.get("unsorted"):
        rows.append(("unsorted", gettext(N_("not sorted")), counts["unsorted"]))
    table = _count_table("declines", N_("Declines by reason"), N_("Reason"), rows)
    table.columns[1] = Column("requests", N_("Declines"))
    return table


def _residents_in_scope(query: Any, scope: Scope) -> Any:
    if scope.district_id is not None:
        query = query.where(col(Resident.district_id) == scope.district_id)
    if scope.dong_id is not None:
        query = query.where(col(Resident.dong_id) == scope.dong_id)
    elif scope.region_id is not None:
        query = query.where(
            col(Resident.dong_id).in_(select(col(Dong.id)).where(col(Dong.region_id) == scope.region_id))
        )
    return query


async def _checkins(session: AsyncSession, period: Period, scope: Scope) -> tuple[Table, Table]:
    def n(*conditions: Any) -> Any:
        return func.sum(case((and_(*conditions), 1), else_=0))

    enrolled = _residents_in_scope(
        select(func.count())
        .select_from(CheckinSchedule)
        .join(Resident, col(Resident.id) == col(CheckinSchedule.resident_id))
        .where(col(CheckinSchedule.active).is_(True)),
        scope,
    ).scalar_subquery()
    slot = CheckinSlot
    sent, status, answer, followup = (
        col(slot.sent_at).is_not(None), col(slot.status), col(slot.answer), col(slot.followup)
    )  # fmt: skip
    missed = and_(sent, col(slot.missed_at).is_not(None))
    alerted = col(slot.escalated_at).is_not(None)
    # How the missed ones ended: the desk's follow-up when there is one, else a late answer, else open.
    ends: dict[str, tuple[Any, ...]] = {code: (missed, followup == code) for code in checkins_care.FOLLOWUPS}
    ends |= {"late_ok": (missed, followup.is_(None), answer == "ok"),
             "late_help": (missed, followup.is_(None), answer == "help"),
             "open": (missed, followup.is_(None), answer.is_(None))}  # fmt: skip
    figures = {
        "enrolled": enrolled,
        "people": func.count(func.distinct(col(slot.resident_id))),
        "slots": func.count(),
        "sent": n(sent),
        "not_sent": n(col(slot.sent_at).is_(None), status.in_(checkins_care.MISSED_STATUSES)),
        "skipped": n(status == "skipped"),
        "answered": n(sent, answer.is_not(None)),
        "help": n(sent, answer == "help"),
        "reminded": n(sent, col(slot.reminded_at).is_not(None)),
        "missed": n(missed),
        "escalated": n(sent, alerted),
        **{f"end:{k}": n(*c) for k, c in ends.items()},
        **{f"alerted:{k}": n(*c, alerted) for k, c in ends.items()},
    }
    query = _residents_in_scope(
        select(*figures.values())
        .select_from(slot)
        .join(Resident, col(Resident.id) == col(slot.resident_id))
        .where(col(slot.scheduled_at) >= period.start, col(slot.scheduled_at) < period.end),
        scope,
    )
    row = (await session.execute(query)).one()
    values = {k: int(v or 0) for k, v in zip(figures, row, strict=True)}
    table = Table("checkins", N_("Check-ins"), [
        Column("label", N_("Figure"), "text"), Column("count", N_("Count")),
        Column("share", N_("Share (%)"), "share")])  # fmt: skip
    for key, msgid in CHECKIN.items():
        whole = {"sent": values["slots"], "not_sent": values["slots"], "skipped": values["slots"]}.get(
            key, values["sent"] if key not in ("enrolled", "people", "slots") else None
        )
        table.rows.append({"code": key, "label": gettext(msgid), "count": values[key],
                           "share": None if whole is None else share(values[key], whole)})  # fmt: skip
    outcomes = Table("checkin_outcomes", N_("How missed check-ins ended"), [
        Column("label", N_("Outcome"), "text"), Column("missed", N_("Missed check-ins")),
        Column("alerted", N_("Of which family or care manager alerted")),
        Column("share", N_("Share (%)"), "share")])  # fmt: skip
    whole = sum(values[f"end:{k}"] for k in ends)
    for key in CHECKIN_END:
        c, a = values[f"end:{key}"], values[f"alerted:{key}"]
        outcomes.rows.append({"code": key, "label": gettext(CHECKIN_END[key]), "missed": c, "alerted": a,
                              "share": share(c, whole)})  # fmt: skip
    told = sum(values[f"alerted:{k}"] for k in ends)
    outcomes.rows.append({"code": "total", "label": gettext(N_("Total")), "missed": whole, "alerted": told,
                          "share": 100.0 if whole else 0.0})  # fmt: skip
    return table, outcomes


def trend_months(period: Period) -> list[Period]:
    """Return the months of the trends: the period's, or the 12 months ending with its last when it is shorter."""
    months = _months(period.first, period.last)
    if len(months) >= 12:
        return [_month(p.first.year, p.first.month) for p in months]
    y, m = period.last.year, period.last.month - 11
    if m < 1:
        y, m = y - 1, m + 12
    return _months(date(y, m, 1), _month(period.last.year, period.last.month).last)


async def _trends(session: AsyncSession, period: Period, scope: Scope) -> Table:
    months = trend_months(period)
    whole = Period(months[0].first, months[-1].last)
    consult = _consult()
    inner = _in_scope(
        _received(
            select(
                col(Order.service_code).label("service"),
                consult.label("consult"),
                _month_bucket(col(Order.created_at), months).label("month"),
            ).where(_not_cancelled()),
            whole,
        ),
        scope,
    ).subquery()
    query = select(inner.c.service, inner.c.consult, inner.c.month, func.count()).group_by(
        inner.c.service, inner.c.consult, inner.c.month
    )
    keys = [f"{p.first.year}-{p.first.month:02d}" for p in months]
    counts: dict[str, list[int]] = {}
    for code, kind, month, n in (await session.execute(query)).all():
        counts.setdefault(_service_key(code, kind), [0] * len(months))[int(month)] += int(n)
    columns = [Column("label", N_("Service"), "text"), *[Column(k, k) for k in keys], Column("total", N_("Total"))]
    table = Table("trends", N_("Orders by month (not cancelled)"), columns)
    totals = [0] * len(months)
    for key in sorted(counts, key=_service_order):
        row = counts[key]
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        table.rows.append({"code": key, "label": service_label(key), **dict(zip(keys, row, strict=True)),
                           "total": sum(row)})  # fmt: skip
    table.rows.append({"code": "total", "label": gettext(N_("Total")), **dict(zip(keys, totals, strict=True)),
                       "total": sum(totals)})  # fmt: skip
    return table


async def _targets(session: AsyncSession, period: Period, scope: Scope) -> Table:
    table = Table("targets", N_("Progress against the monthly targets"), [
        Column("label", N_("Service"), "text"), Column("measure", N_("Counted"), "text"),
        Column("month", N_("Month"), "text"), Column("target", N_("Target")), Column("actual", N_("Actual")),
        Column("reached", N_("Reached (%)"), "share")])  # fmt: skip
    if scope.region_id is not None or scope.dong_id is not None:
        return table  # targets are a district's: a 권역 or 동 has none
    wanted = select(col(StatisticsTarget.service_code), col(StatisticsTarget.measure),
                    func.sum(col(StatisticsTarget.monthly))).group_by(
        col(StatisticsTarget.service_code), col(StatisticsTarget.measure))  # fmt: skip
    if scope.district_id is not None:
        wanted = wanted.where(col(StatisticsTarget.district_id) == scope.district_id)
    targets = {(c, m): int(v or 0) for c, m, v in (await session.execute(wanted)).all() if m in MEASURE}
    if not targets:
        return table
    months = _months(period.first, period.last)
    inner = _in_scope(
        _received(
            select(
                col(Order.service_code).label("service"),
                col(Order.resident_id).label("resident"),
                func.coalesce(col(Order.delivered_units), col(Order.units)).label("units"),
                _month_bucket(col(Order.created_at), months).label("month"),
            ).where(_not_cancelled(), col(Order.service_code).in_({c for c, _ in targets})),
            period,
        ),
        scope,
    ).subquery()
    people = func.count(func.distinct(inner.c.resident))
    query = select(inner.c.service, inner.c.month, func.count(), people, func.sum(inner.c.units)).group_by(
        inner.c.service, inner.c.month
    )
    actual: dict[tuple[str, int], dict[str, int]] = {}
    for code, month, orders, people, units in (await session.execute(query)).all():
        actual[(code, int(month))] = {"orders": int(orders), "residents": int(people), "units": int(units or 0)}
    whole_months = {i for i, p in enumerate(months) if p == _month(p.first.year, p.first.month)}
    for code, measure in sorted(targets, key=lambda k: (_service_order(k[0]), list(MEASURE).index(k[1]))):
        monthly = targets[(code, measure)]
        sum_target = sum_actual = 0
        for i, p in enumerate(months):
            # A month cut by the period gets its share of the target by days.
            days = calendar.monthrange(p.first.year, p.first.month)[1]
            part = (p.last - p.first).days + 1
            target = monthly if i in whole_months else (2 * monthly * part + days) // (2 * days)
            got = actual.get((code, i), {}).get(measure, 0)
            sum_target, sum_actual = sum_target + target, sum_actual + got
            table.rows.append({"code": f"{code}:{measure}:{p.first.isoformat()[:7]}", "label": service_label(code),
                               "measure": gettext(MEASURE[measure]), "short": gettext(MEASURE_SHORT[measure]),
                               "month": p.first.isoformat()[:7],
                               "target": target, "actual": got, "reached": share(got, target)})  # fmt: skip
        if len(months) > 1:
            table.rows.append({"code": f"{code}:{measure}:total", "label": service_label(code),
                               "measure": gettext(MEASURE[measure]), "short": gettext(MEASURE_SHORT[measure]),
                               "month": gettext(N_("Total")),
                               "target": sum_target, "actual": sum_actual,
                               "reached": share(sum_actual, sum_target)})  # fmt: skip
    return table


@dataclass(frozen=True)
class Target:
    """A district's monthly target as the form lists it."""

    service_code: str
    measure: str
    monthly: int


async def list_targets(session: AsyncSession, *, access: Access, district_id: int | None) -> list[Target]:
    """Return the monthly targets of the operator's district (an all-district admin's pick; none without one)."""
    district = access.district_id if access.district_id is not None else district_id
    if district is None:
        return []
    rows = await session.execute(select(StatisticsTarget).where(col(StatisticsTarget.district_id) == district))
    found = [Target(t.service_code, t.measure, t.monthly) for t in rows.scalars()]
    return sorted(found, key=lambda t: (_service_order(t.service_code), t.measure))


async def set_target(
    session: AsyncSession,
    *,
    access: Access,
    service_code: str,
    measure: str,
    monthly: int,
    district_id: int | None = None,
) -> int:
    """Set (0: remove) a monthly target of the admin's district (an all-district admin names it); return it."""
    if access.role != "admin":
        raise PermissionDenied()
    district = access.district_id if access.district_id is not None else district_id
    if district is None:
        raise InvalidInput(N_("Choose the district."))
    if await session.get(District, district) is None:
        raise NotFound()
    if service_code not in labels.SERVICE or measure not in MEASURE:
        raise InvalidInput(N_("That answer could not be understood."))
    if not 0 <= monthly <= MAX_TARGET:
        raise InvalidInput(N_("Please write the target as a number from 0 to 1,000,000."))
    same = and_(
        col(StatisticsTarget.district_id) == district,
        col(StatisticsTarget.service_code) == service_code,
        col(StatisticsTarget.measure) == measure,
    )
    if monthly == 0:
        await session.execute(delete(StatisticsTarget).where(same))
    else:
        target = (await session.execute(select(StatisticsTarget).where(same))).scalar_one_or_none()
        target = target or StatisticsTarget(district_id=district, service_code=service_code, measure=measure,
                                            monthly=monthly)  # fmt: skip
        target.monthly, target.updated_at, target.updated_by = monthly, clock.now(), access.operator_id
        session.add(target)
    await session.flush()
    await access.log(session, action="statistics_target_set",
                     detail=f"district={district} {service_code} {measure} {monthly}")  # fmt: skip
    return district


async def compute(session: AsyncSession, *, period: Period, scope: Scope) -> Statistics:
    """Return every table for the period and scope (no access check: use `for_operator`)."""
    services = await _by_service(session, period, scope)
    amounts = await _amounts(session, period, scope)
    sources = await _by_source(session, period, scope)
    dongs, regions = await _by_place(session, period, scope)
    groups = await _by_group(session, period, scope)
    funnel, durations = await _funnel(session, period, scope)
    providers = await _providers(session, period, scope)
    social = await _social_economy(session, period, scope)
    returns = await _returns(session, period, scope)
    declines = await _declines(session, period, scope)
    checkins, checkin_outcomes = await _checkins(session, period, scope)
    targets = await _targets(session, period, scope)
    trends = await _trends(session, period, scope)
    tables = [services, amounts, social, sources, regions, dongs, groups, funnel, durations, returns, declines,
              providers, checkins, checkin_outcomes, targets, trends]  # fmt: skip
    return Statistics(period=period, scope=scope, tables=tables)


async def for_operator(
    session: AsyncSession,
    *,
    access: Access,
    period: Period,
    district_id: int | None = None,
    region_id: int | None = None,
    dong_id: int | None = None,
    action: str = "statistics_view",
) -> Statistics:
    """Return the statistics an operator may see (their district; an all-district admin's pick) and log the view."""
    scope = await resolve_scope(session, access=access, district_id=district_id, region_id=region_id, dong_id=dong_id)
    stats = await compute(session, period=period, scope=scope)
    detail = f"{period.label} district={scope.district_id} region={scope.region_id} dong={scope.dong_id}"
    await access.log(session, action=action, detail=detail)
    return stats


@dataclass(frozen=True)
class Place:
    """A district, 권역 or 동 as the scope filter lists it."""

    id: int | None
    name: str
    parent_id: int | None = None


async def places(session: AsyncSession, *, access: Access, district_id: int | None) -> dict[str, list[Place]]:
    """Return the districts (the all-district admin's choice), and the 권역 and 동 of the scope's district."""
    district = access.district_id if access.district_id is not None else district_id
    query = select(col(District.id), col(District.name)).order_by(col(District.name))
    if access.district_id is not None:
        query = query.where(col(District.id) == access.district_id)
    districts = [Place(i, n) for i, n in (await session.execute(query)).all()]
    if district is None:
        return {"districts": districts, "regions": [], "dongs": []}
    regions = select(col(Region.id), col(Region.name)).where(col(Region.district_id) == district)
    dongs = select(col(Dong.id), col(Dong.name), col(Dong.region_id)).where(col(Dong.district_id) == district)
    return {
        "districts": districts,
        "regions": [Place(i, n) for i, n in (await session.execute(regions.order_by(col(Region.name)))).all()],
        "dongs": [Place(i, n, r) for i, n, r in (await session.execute(dongs.order_by(col(Dong.name)))).all()],
    }
