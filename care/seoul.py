"""`dolbom demo --scale`: all of Seoul made up — 25 districts, 425 동, 200,000 people, 1,000,000 orders.

Loaded by bulk writes (storage.bulk: COPY on PostgreSQL), not through the services: the rows are
what the services would have left (history, assignments, check-in schedules and slots), generated
from a seeded random generator, so two loads are the same apart from the moment of loading.
`--scale N` loads N orders with everything else scaled down in proportion (at least one district).
Needs an empty database (no districts yet); SQLite is refused above MAX_SQLITE_ORDERS.
All names and numbers are made up; nothing is sent to anyone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import func, select

from care import operators
from care.catalog import BY_CODE
from dolbom import clock
from dolbom.errors import RuleViolation
from dolbom.i18n import N_
from storage import bulk
from storage.db import Database
from storage.models import District

SEOUL_ORDERS = 1_000_000
MAX_SQLITE_ORDERS = 100_000
SEED = 20_261_201
PASSWORD = "dolbom-seoul-2026"
ADMIN = "seoul-admin"
DAYS = 730  # two years of history
OPEN_DAYS = 45  # open orders are the recent ones
CHUNK = 50_000
BIG_TABLES = ("residents", "orders", "order_history", "assignments", "checkin_schedules", "checkin_slots")

GU = (
    "종로구", "중구", "용산구", "성동구", "광진구", "동대문구", "중랑구", "성북구", "강북구", "도봉구",
    "노원구", "은평구", "서대문구", "마포구", "양천구", "강서구", "구로구", "금천구", "영등포구", "동작구",
    "관악구", "서초구", "강남구", "송파구", "강동구",
)  # fmt: skip
SURNAMES = "김이박최정강조윤장임한오서신권황안송류전홍고문양손배백허유남심노하곽성차주우구민진나"
GIVEN = "민서지현수영준호진우은희정숙자순옥미경철성동혜연태상재광명선주"
SERVICES = tuple(BY_CODE)
OPEN = ("received", "screening", "assigned", "accepted", "in_progress")
# Among recent orders: how likely each status is (the rest of the recent ones are already closed).
RECENT_WEIGHTS = (("received", 18), ("screening", 12), ("assigned", 9), ("accepted", 8), ("in_progress", 13),
                  ("done", 30), ("cancelled", 7), ("rejected", 3))  # fmt: skip
OLD_WEIGHTS = (("done", 88), ("cancelled", 9), ("rejected", 3))


@dataclass(frozen=True)
class Scale:
    """How much to load: Seoul's full size for 1,000,000 orders, in proportion below."""

    orders: int

    @property
    def districts(self) -> int:
        return max(1, min(25, round(25 * self.orders / SEOUL_ORDERS)))

    @property
    def residents(self) -> int:
        return max(10, self.orders // 5)

    dongs_per_district: int = 17
    regions_per_district: int = 3
    providers_per_district: int = 8
    checkin_share: float = 0.10  # of residents with a daily check-in
    slot_days: int = 14


@dataclass
class Loaded:
    counts: dict[str, int]
    seconds: float

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v:,}" for k, v in self.counts.items())
        return (
            f"made-up Seoul loaded in {self.seconds:.0f} s: {parts}\nsign in: {ADMIN} / {PASSWORD} (every district),"
            f" desk-01 … desk-{min(self.counts.get('districts', 1), 25):02d} / {PASSWORD} (one district each)"
        )


class TooBigForSQLite(RuleViolation):
    """A Seoul-scale load asked of SQLite."""


class NotEmpty(RuleViolation):
    """The database already holds districts."""


def parse(value: str) -> Scale:
    """Return the scale for `seoul` or a number of orders; ValueError otherwise."""
    if value.strip().lower() == "seoul":
        return Scale(SEOUL_ORDERS)
    n = int(value.replace(",", "").replace("_", ""))
    if n < 1:
        raise ValueError(value)
    return Scale(n)


def check_engine(dialect: str, *, scale: Scale) -> None:
    """Raise TooBigForSQLite when SQLite is asked for more than MAX_SQLITE_ORDERS orders."""
    if dialect == "sqlite" and scale.orders > MAX_SQLITE_ORDERS:
        raise TooBigForSQLite(
            N_("SQLite can hold at most {n} made-up orders. For a larger load, use PostgreSQL (DOLBOM_DATABASE_URL)."),
            n=f"{MAX_SQLITE_ORDERS:,}",
        )


Progress = Callable[[str, int, int], None]  # (table, rows just written, rows expected in all)


def _quiet(_table: str, _n: int, _total: int) -> None:
    return None


async def load(database: Database, *, scale: Scale, progress: Progress = _quiet) -> Loaded:
    """Load the made-up Seoul into an empty database; return the row counts."""
    started = clock.now()
    check_engine(database.engine.dialect.name, scale=scale)
    async with database.engine.connect() as conn:
        if (await conn.execute(select(func.count()).select_from(District))).scalar_one():
            raise NotEmpty(N_("This database already has districts. Load the large demo into an empty database."))
    gen = _Generator(scale, now=started)
    counts: dict[str, int] = {}
    async with database.engine.begin() as conn:
        if bulk.is_postgres(conn):
            await conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        async with bulk.deferred_indexes(conn, BIG_TABLES):
            for table, total, chunks in gen.tables():
                for chunk in chunks:
                    # A chunk may carry rows of several tables (orders, then their history and assignments).
                    for name, rows in chunk.items():
                        if rows:
                            n = await bulk.copy_rows(conn, name, gen.columns[name], rows)
                            counts[name] = counts.get(name, 0) + n
                    progress(table, len(chunk[table]), total)
            progress("indexes", 0, 1)
        progress("indexes", 1, 1)
        await bulk.reset_sequences(conn, [t for t in counts if t not in ("provider_services", "provider_regions")])
        await bulk.search_indexes(conn)
    progress("analyze", 0, 1)
    async with database.engine.connect() as conn:
        await bulk.analyze(conn)
    progress("analyze", 1, 1)
    return Loaded(counts=counts, seconds=(clock.now() - started).total_seconds())


Chunk = dict[str, list[Sequence[Any]]]


def _chunks(table: str, rows: Iterator[Sequence[Any]], size: int = CHUNK) -> Iterator[Chunk]:
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield {table: chunk}
            chunk = []
    if chunk:
        yield {table: chunk}


class _Generator:
    """The rows of every table, in an order that satisfies the foreign keys."""

    def __init__(self, scale: Scale, *, now: datetime) -> None:
        self.s = scale
        self.now = now.astimezone(UTC)
        self.rng = random.Random(SEED)
        nd = scale.districts
        self.dongs_of: list[list[int]] = []  # per district (0-based), its dong ids
        self.region_of_dong: dict[int, int] = {}
        self.providers_of: list[list[int]] = []
        self.n_regions = nd * scale.regions_per_district
        self.n_dongs = nd * scale.dongs_per_district
        self.n_providers = nd * scale.providers_per_district
        for d in range(nd):
            dongs = list(range(d * scale.dongs_per_district + 1, (d + 1) * scale.dongs_per_district + 1))
            self.dongs_of.append(dongs)
            for i, dong in enumerate(dongs):
                self.region_of_dong[dong] = d * scale.regions_per_district + 1 + i % scale.regions_per_district
            first = d * scale.providers_per_district + 1
            self.providers_of.append(list(range(first, first + scale.providers_per_district)))
        self.resident_district = [0] * (scale.residents + 1)

    columns: ClassVar[dict[str, list[str]]] = {
        "districts": ["id", "code", "name", "phone", "active"],
        "regions": ["id", "district_id", "name", "active"],
        "dongs": ["id", "district_id", "region_id", "name", "active"],
        "operators": ["id", "username", "display_name", "password_hash", "role", "district_id", "active",
                      "must_change_password", "created_at"],
        "providers": ["id", "district_id", "name", "kind", "phone", "weekly_capacity", "active", "created_at"],
        "provider_services": ["provider_id", "service_code", "weekly_capacity"],
        "provider_regions": ["provider_id", "region_id", "is_lead"],
        "residents": ["id", "district_id", "dong_id", "name", "phone", "phone_last4", "address", "birth_year",
                      "lives_alone", "income_tier", "needs_phone_call", "created_at", "updated_at", "last_active_at"],
        "orders": ["id", "receipt_no", "district_id", "resident_id", "service_code", "units", "delivered_units",
                   "urgency", "source", "status", "details", "proposed", "created_at", "updated_at",
                   "status_changed_at", "version"],
        "order_history": ["id", "order_id", "at", "action", "from_status", "to_status", "actor_kind", "actor_id",
                          "actor_name", "channel"],
        "assignments": ["id", "order_id", "provider_id", "status", "assigned_at", "deadline", "decided_at",
                        "assigned_by"],
        "checkin_schedules": ["id", "resident_id", "weekdays", "at_minute", "alert_family", "alert_care_manager",
                              "active", "created_at", "effective_from"],
        "checkin_slots": ["id", "resident_id", "scheduled_at", "status", "answer", "sent_at", "answered_at",
                          "missed_at", "all_clear_sent", "channel"],
    }  # fmt: skip

    def tables(self) -> Iterator[tuple[str, int, Iterator[Chunk]]]:
        """Yield (table, rows expected, chunks of rows) in foreign-key order."""
        s = self.s
        nd = s.districts
        yield "districts", nd, _chunks("districts", self._districts())
        yield "regions", self.n_regions, _chunks("regions", self._regions())
        yield "dongs", self.n_dongs, _chunks("dongs", self._dongs())
        yield "operators", nd + 1, _chunks("operators", self._operators())
        yield "providers", self.n_providers, _chunks("providers", self._providers())
        yield "provider_services", self.n_providers * 3, _chunks("provider_services", self._provider_services())
        yield (
            "provider_regions",
            self.n_providers * s.regions_per_district,
            _chunks("provider_regions", self._provider_regions()),
        )
        yield "residents", s.residents, _chunks("residents", self._residents())
        yield "orders", s.orders, self._orders()
        n_sched = int(s.residents * s.checkin_share)
        yield "checkin_schedules", n_sched, _chunks("checkin_schedules", self._schedules(n_sched))
        yield "checkin_slots", n_sched * s.slot_days, _chunks("checkin_slots", self._slots(n_sched))

    # ------------------------------------------------------------ places and people

    def _districts(self) -> Iterator[Sequence[Any]]:
        for d in range(self.s.districts):
            yield (d + 1, f"S{d + 1:02d}", GU[d % 25], f"02-{2100 + d:04d}-{1000 + d:04d}", True)

    def _regions(self) -> Iterator[Sequence[Any]]:
        for d in range(self.s.districts):
            for i in range(self.s.regions_per_district):
                yield (d * self.s.regions_per_district + i + 1, d + 1, f"{i + 1}권역", True)

    def _dongs(self) -> Iterator[Sequence[Any]]:
        for d, dongs in enumerate(self.dongs_of):
            stem = GU[d % 25].removesuffix("구")
            for i, dong in enumerate(dongs):
                yield (dong, d + 1, self.region_of_dong[dong], f"{stem}{i + 1}동", True)

    def _operators(self) -> Iterator[Sequence[Any]]:
        hashed = operators.hash_password(PASSWORD)  # one hash for all: argon2 is slow on purpose
        yield (1, ADMIN, "서울 전체 관리자", hashed, "admin", None, True, False, self.now)
        for d in range(self.s.districts):
            yield (
                d + 2,
                f"desk-{d + 1:02d}",
                f"{GU[d % 25]} 통합창구",
                hashed,
                "operator",
                d + 1,
                True,
                False,
                self.now,
            )

    def _providers(self) -> Iterator[Sequence[Any]]:
        kinds = ("social_enterprise", "cooperative", "social_cooperative", "self_sufficiency")
        for d, ids in enumerate(self.providers_of):
            for i, pid in enumerate(ids):
                yield (pid, d + 1, f"{GU[d % 25]} 돌봄기관 {i + 1}", kinds[i % 4], f"02-{3000 + d:04d}-{pid:04d}",
                       40, True, self.now)  # fmt: skip

    def _provider_services(self) -> Iterator[Sequence[Any]]:
        for ids in self.providers_of:
            for i, pid in enumerate(ids):
                for k in range(3):
                    yield (pid, SERVICES[(i + k * 3) % len(SERVICES)], None)

    def _provider_regions(self) -> Iterator[Sequence[Any]]:
        for d, ids in enumerate(self.providers_of):
            for i, pid in enumerate(ids):
                for r in range(self.s.regions_per_district):
                    yield (pid, d * self.s.regions_per_district + r + 1, i == r)

    def _residents(self) -> Iterator[Sequence[Any]]:
        rng, nd = self.rng, self.s.districts
        tiers = ("basic", "near_poor", "general", "unknown")
        for rid in range(1, self.s.residents + 1):
            d = (rid - 1) % nd
            self.resident_district[rid] = d
            dong = rng.choice(self.dongs_of[d])
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            phone = f"+8210{rng.randrange(10**8):08d}"
            created = self.now - timedelta(days=DAYS + rng.randrange(365))
            yield (rid, d + 1, dong, name, phone, phone[-4:], f"서울 {GU[d % 25]} {rng.randrange(1, 300)}길 {rid % 97}",
                   rng.randrange(1930, 1965), rng.random() < 0.4, rng.choice(tiers), rng.random() < 0.05,
                   created, created, created)  # fmt: skip

    # ------------------------------------------------------------ orders with their history

    def _orders(self) -> Iterator[Chunk]:
        # Written for speed (a million rows): plain random() and lookups, no datetime formatting per row.
        rnd, s, now = self.rng.random, self.s, self.now
        recent = [st for st, w in RECENT_WEIGHTS for _ in range(w)]
        old = [st for st, w in OLD_WEIGHTS for _ in range(w)]
        sources = ("resident", "care_manager", "desk_phone", "resident")
        steps = [timedelta(hours=h) for h in range(2, 48)]
        deadline = timedelta(hours=48)
        assignment_status = {"assigned": "pending", "accepted": "accepted", "in_progress": "accepted", "done": "done"}
        closing = {"done": "complete", "cancelled": "cancel", "rejected": "reject"}
        # Created times ascending: a receipt number is the month and a counter within it.
        ages = sorted((rnd() * DAYS for _ in range(s.orders)), reverse=True)
        month, seq, yymm = -1, 0, ""
        orders: list[Sequence[Any]] = []
        history: list[Sequence[Any]] = []
        assignments: list[Sequence[Any]] = []
        hid = aid = 0
        n_res, n_serv, n_prov = s.residents, len(SERVICES), s.providers_per_district
        for oid, age in enumerate(ages, start=1):
            created = now - timedelta(days=age)
            if created.month != month:
                month, seq, yymm = created.month, 0, created.strftime("%y%m")
            seq += 1
            rid = 1 + int(rnd() * n_res)
            d = self.resident_district[rid]
            service = SERVICES[int(rnd() * n_serv)]
            units = 1 + int(rnd() * 10)
            status = recent[int(rnd() * len(recent))] if age < OPEN_DAYS else old[int(rnd() * len(old))]
            step = steps[int(rnd() * len(steps))]
            changed = created + step * 3
            if changed > now:
                changed = now
            operator_id = d + 2
            hid += 1
            history.append((hid, oid, created, "received", None, "received", "resident", None, None, "telegram"))
            a_status = assignment_status.get(status)
            if a_status is not None:
                at = created + step if created + step < now else now
                hid += 1
                history.append((hid, oid, at, "assign", "screening", "assigned", "operator", operator_id, None,
                                "console"))  # fmt: skip
                aid += 1
                decided = None if a_status == "pending" else (at + step if at + step < now else now)
                provider = self.providers_of[d][int(rnd() * n_prov)]
                assignments.append((aid, oid, provider, a_status, at, at + deadline, decided, operator_id))
            action = closing.get(status)
            if action is not None:
                hid += 1
                if status == "done":
                    history.append((hid, oid, changed, action, "in_progress", status, "provider", None, None, "jobs"))
                else:
                    history.append((hid, oid, changed, action, "screening", status, "operator", operator_id, None,
                                    "console"))  # fmt: skip
            orders.append((oid, f"{yymm}-{seq:05d}", d + 1, rid, service, units, units if status == "done" else None,
                           "urgent" if rnd() < 0.05 else "normal", sources[int(rnd() * 4)], status, {}, {}, created,
                           changed, changed, 1))  # fmt: skip
            if len(orders) >= CHUNK:
                yield {"orders": orders, "order_history": history, "assignments": assignments}
                orders, history, assignments = [], [], []
        if orders:
            yield {"orders": orders, "order_history": history, "assignments": assignments}

    # ------------------------------------------------------------ check-ins

    def _schedules(self, n: int) -> Iterator[Sequence[Any]]:
        step = max(1, self.s.residents // max(n, 1))
        for i in range(n):
            rid = 1 + i * step
            yield (i + 1, rid, [0, 1, 2, 3, 4, 5, 6], 600, True, True, True, self.now - timedelta(days=60),
                   self.now - timedelta(days=60))  # fmt: skip

    def _slots(self, n: int) -> Iterator[Sequence[Any]]:
        rng = self.rng
        step = max(1, self.s.residents // max(n, 1))
        today = self.now.replace(hour=1, minute=0, second=0, microsecond=0)  # 10:00 in Seoul is 01:00 UTC
        sid = 0
        for i in range(n):
            rid = 1 + i * step
            for day in range(self.s.slot_days, 0, -1):
                at = today - timedelta(days=day)
                sid += 1
                roll = rng.random()
                if roll < 0.9:
                    yield (sid, rid, at, "answered", "ok", at, at + timedelta(minutes=rng.randrange(1, 90)), None,
                           False, "telegram")  # fmt: skip
                elif roll < 0.97:
                    yield (sid, rid, at, "missed", None, at, None, at + timedelta(hours=2), False, "telegram")
                else:
                    yield (sid, rid, at, "answered", "help", at, at + timedelta(minutes=30), None, False, "telegram")
