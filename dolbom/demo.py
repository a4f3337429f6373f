"""`dolbom demo`: a fictional 마포구 to try the desk on, loaded once per database.

Everything comes from seeded random generators, so two loads give the same data
(argon2 salts aside; times are relative to the moment of loading). Orders go
through the real order service (care.orders) with the clock frozen at each step,
so their histories, assignments and caps are what the desk would have produced.
The load is one transaction: it lands whole or not at all, and a district "MAPO"
that exists means the demo is there. All names, phone numbers and addresses are
made up; nothing is sent to anyone.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from care import lifecycle, operators, prices
from care.actors import SYSTEM, Actor
from care.catalog import BY_CODE
from care.lifecycle import Status
from dolbom import clock
from storage.db import Database
from storage.models import (
    Assignment,
    CareManager,
    CheckinSchedule,
    Consent,
    District,
    Dong,
    FamilyContact,
    Operator,
    Order,
    OrderHistory,
    Outbox,
    Provider,
    ProviderRegion,
    ProviderService,
    Region,
    Resident,
    ResidentChannel,
    ServiceCatalog,
)

DISTRICT_CODE = "MAPO"
DISTRICT_NAME = "마포구"
SEED = 20_191_118
PASSWORD = "dolbom-desk-2026"
# (username, role, display name, bound to the demo district)
LOGINS: tuple[tuple[str, str, str, bool], ...] = (
    ("demo", "admin", "데모 관리자", False),
    ("mapo-desk", "operator", "마포 통합창구 상담원", True),
    ("mapo-viewer", "viewer", "마포 열람 전용", True),
)
N_RESIDENTS = 300
N_ORDERS = 1_500
DAYS = 182  # six months back from now

REGIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("1권역 남부", ("아현동", "공덕동", "도화동", "용강동", "대흥동", "염리동")),
    ("2권역 서부", ("신수동", "서강동", "서교동", "합정동", "망원1동", "망원2동")),
    ("3권역 북부", ("연남동", "성산1동", "성산2동", "상암동")),
)
ROADS = {
    "아현동": "마포대로",
    "공덕동": "만리재로",
    "도화동": "도화길",
    "용강동": "토정로",
    "대흥동": "대흥로",
    "염리동": "숭문길",
    "신수동": "신수로",
    "서강동": "서강로",
    "서교동": "잔다리로",
    "합정동": "양화로",
    "망원1동": "망원로",
    "망원2동": "포은로",
    "연남동": "연남로",
    "성산1동": "성미산로",
    "성산2동": "월드컵로",
    "상암동": "월드컵북로",
}


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    kind: str
    services: tuple[str, ...]
    regions: tuple[int, ...]  # indexes into REGIONS
    lead_of: int | None
    weekly_capacity: int


PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec("마포나눔밥상 협동조합", "cooperative", ("meals",), (0, 1, 2), 0, 60),
    ProviderSpec(
        "늘봄재가돌봄 사회적협동조합",
        "social_cooperative",
        ("home_care", "escort", "checkin", "info"),
        (0, 1, 2),
        1,
        45,
    ),
    ProviderSpec("성산마을부엌 협동조합", "cooperative", ("meals",), (1, 2), 2, 50),
    ProviderSpec("마포희망집수리 자활기업", "self_sufficiency", ("housing",), (0, 1, 2), None, 20),
    ProviderSpec("동행나들이 사회적기업", "social_enterprise", ("escort", "housing"), (0, 1, 2), None, 15),
    ProviderSpec("공덕골 행복도시락 자활기업", "self_sufficiency", ("meals",), (0,), None, 30),
    ProviderSpec("하늘연 어르신돌봄 사회적기업", "social_enterprise", ("home_care", "short_stay"), (0, 1, 2), None, 25),
    ProviderSpec(
        "마포쉼터 단기보호 사회적협동조합", "social_cooperative", ("short_stay", "home_care"), (0, 2), None, 15
    ),
    ProviderSpec(
        "따뜻한이웃 안부상담 사회적협동조합", "social_cooperative", ("info", "checkin", "health"), (0, 1, 2), None, 60
    ),
    ProviderSpec("망원손길수리 협동조합", "cooperative", ("housing", "escort"), (1, 2), None, 20),
)

# Order volumes shaped like the 2019 pilot (domain.md): information and meals first,
# then home care, housing, escort; the rest now and then.
SERVICE_WEIGHTS = {
    "info": 30,
    "meals": 26,
    "home_care": 14,
    "housing": 9,
    "escort": 7,
    "checkin": 6,
    "health": 4,
    "short_stay": 4,
}
UNIT_CHOICES = {
    "meals": (5, 10, 10, 10, 15, 20),
    "home_care": (2, 3, 4, 4, 5, 6),
    "escort": (1, 2, 2, 3, 4),
    "housing": (1, 2, 2, 3),
    "short_stay": (3, 5, 7),
    "info": (1,),
    "health": (1, 1, 2),
    "checkin": (4, 8, 12),
}
# How long delivery takes, in days (from start to complete).
DELIVERY_DAYS = {
    "meals": (5, 20),
    "home_care": (7, 30),
    "escort": (1, 7),
    "housing": (1, 10),
    "short_stay": (3, 14),
    "info": (0.05, 2),
    "health": (1, 10),
    "checkin": (7, 30),
}
# Final status by the order's age: old orders are mostly done, recent ones open.
STATUS_BY_AGE: tuple[tuple[float, dict[str, int]], ...] = (
    (
        1,
        {
            "received": 30,
            "screening": 25,
            "assigned": 20,
            "accepted": 10,
            "in_progress": 5,
            "cancelled": 5,
            "rejected": 5,
        },
    ),
    (7, {"screening": 5, "assigned": 5, "accepted": 15, "in_progress": 40, "done": 20, "cancelled": 8, "rejected": 7}),
    (30, {"accepted": 3, "in_progress": 25, "done": 58, "cancelled": 7, "rejected": 7}),
    (10_000, {"in_progress": 2, "done": 84, "cancelled": 7, "rejected": 7}),
)

SHOWCASE = ("received", "screening", "assigned", "accepted")

SURNAMES = {
    "김": 21, "이": 15, "박": 8, "최": 5, "정": 5, "강": 2, "조": 2, "윤": 2, "장": 2, "임": 2,
    "한": 1, "오": 1, "서": 1, "신": 1, "권": 1, "황": 1, "안": 1, "송": 1, "류": 1, "홍": 1,
}  # fmt: skip
OLD_F = ("영순말복춘금명옥정경", "자순숙희례옥녀분애임")
OLD_M = ("영정상종병재기성광철동만", "수호식철길석환근태현")
YOUNG = ("민지서현준수유하도윤", "호우연진아희빈석준영")
RELATIONS = ("아들", "딸", "며느리", "사위", "조카", "배우자")

REJECT_REASONS = (
    "돌봄SOS 대상 요건(65세 이상 또는 장애)에 해당하지 않습니다.",
    "같은 내용의 신청이 이미 접수되어 있습니다.",
    "장기요양 재가급여 대상이라 해당 기관으로 연계했습니다.",
    "마포구 주민이 아니어서 거주지 구청으로 안내했습니다.",
)
CANCEL_REASONS = (
    "이용자가 신청을 취소했습니다.",
    "입원하셔서 서비스가 필요 없어졌습니다.",
    "가족이 직접 돌보기로 했습니다.",
    "여러 번 연락드렸지만 닿지 않아 취소했습니다.",
    "다른 공공서비스로 대체되었습니다.",
)
DECLINE_REASONS = (
    "이번 주 인력이 모두 배치되어 어렵습니다.",
    "요청하신 날짜에 일정이 맞지 않습니다.",
    "거리가 멀어 정해진 시간에 가기 어렵습니다.",
)
REASSIGN_REASONS = (
    "담당 인력이 아파서 다른 기관으로 재배정합니다.",
    "이용자가 다른 기관을 원하셔서 재배정합니다.",
    "제공기관 사정으로 일정을 맞출 수 없어 재배정합니다.",
    "더 가까운 기관으로 재배정합니다.",
)
EXPIRED_REASON = "수락 기한이 지나 통합창구로 돌아왔습니다."

COUNTED: tuple[tuple[str, str], ...] = (
    ("regions", "권역"),
    ("dongs", "행정동"),
    ("service_catalog", "서비스 단가"),
    ("providers", "제공기관"),
    ("residents", "이용자"),
    ("consents", "동의 기록"),
    ("family_contacts", "가족 연락처"),
    ("care_managers", "돌봄매니저"),
    ("checkin_schedules", "안부확인 일정"),
    ("orders", "신청"),
    ("order_history", "처리 이력"),
    ("assignments", "배정"),
    ("operators", "운영자 계정"),
)


@dataclass
class DemoResult:
    """What `dolbom demo` did: whether it loaded anything, the counts, and the logins."""

    created: bool
    counts: dict[str, int]
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    password: str = PASSWORD
    logins: tuple[tuple[str, str, str, bool], ...] = LOGINS

    def summary(self) -> str:
        """Return the report printed by `dolbom demo`, in Korean and English."""
        lines: list[str] = []
        if self.created:
            lines.append(f"데모 자치구 {DISTRICT_NAME}({DISTRICT_CODE})를 만들었습니다. ({self.seconds:.1f}초)")
            lines.append(f"Loaded the demo district {DISTRICT_CODE} in {self.seconds:.1f} s.")
        else:
            lines.append(f"데모 자치구 {DISTRICT_NAME}({DISTRICT_CODE})가 이미 있어 아무것도 추가하지 않았습니다.")
            lines.append(f"The demo district {DISTRICT_CODE} is already loaded: nothing was added.")
        lines.append("")
        for table, korean in COUNTED:
            lines.append(f"  {korean} {table}: {self.counts.get(table, 0):,}")
        if self.statuses:
            lines.append("  신청 상태 orders by status: " + ", ".join(f"{k} {v}" for k, v in self.statuses.items()))
        lines.append("")
        lines.append("콘솔 로그인 / Console login:")
        for username, role, _display, _bound in self.logins:
            lines.append(f"  {role:<8} 아이디 username: {username}   비밀번호 password: {self.password}")
        lines.append("데모용 계정입니다. 실제 운영에서는 쓰지 마세요. / Demo accounts: never use them in production.")
        return "\n".join(lines)


# ------------------------------------------------------------------ entry point


async def load(database: Database) -> DemoResult:
    """Load the demo district unless it exists; return the counts and the logins."""
    started = time.monotonic()
    try:
        return await _load(database, started)
    except IntegrityError:
        # Another `dolbom demo` loaded it at the same moment: theirs stands, ours rolled back whole.
        async with database.transaction() as session:
            district = await _district(session)
            if district is None:
                raise
            return await _result(session, district, created=False, seconds=0.0)


async def _load(database: Database, started: float) -> DemoResult:
    async with database.transaction() as session:
        district = await _district(session)
        if district is not None:
            return await _result(session, district, created=False, seconds=0.0)
        last_outbox = (await session.execute(select(func.max(col(Outbox.id))))).scalar_one() or 0
        now = clock.now()
        district = await _Loader(session, random.Random(SEED), now).run()
        # Notices the order service queued for these made-up past events must never go out. They carry
        # the frozen (past) moments; a message someone else queues meanwhile is created at the real now.
        await session.execute(
            update(Outbox)
            .where(
                col(Outbox.id) > last_outbox,
                col(Outbox.created_at) < now - timedelta(seconds=30),
                col(Outbox.status) == "pending",
            )
            .values(status="cancelled", last_error="demo data: never sent")
        )
        result = await _result(session, district, created=True, seconds=0.0)
    result.seconds = time.monotonic() - started
    return result


async def _district(session: AsyncSession) -> District | None:
    return (await session.execute(select(District).where(col(District.code) == DISTRICT_CODE))).scalar_one_or_none()


async def _result(session: AsyncSession, district: District, *, created: bool, seconds: float) -> DemoResult:
    did = district.id
    residents = select(col(Resident.id)).where(col(Resident.district_id) == did)
    order_ids = select(col(Order.id)).where(col(Order.district_id) == did)
    where: dict[str, tuple[type[SQLModel], ColumnElement[bool]]] = {
        "regions": (Region, col(Region.district_id) == did),
        "dongs": (Dong, col(Dong.district_id) == did),
        "service_catalog": (ServiceCatalog, col(ServiceCatalog.district_id) == did),
        "providers": (Provider, col(Provider.district_id) == did),
        "residents": (Resident, col(Resident.district_id) == did),
        "consents": (Consent, col(Consent.resident_id).in_(residents)),
        "family_contacts": (FamilyContact, col(FamilyContact.resident_id).in_(residents)),
        "care_managers": (CareManager, col(CareManager.district_id) == did),
        "checkin_schedules": (CheckinSchedule, col(CheckinSchedule.resident_id).in_(residents)),
        "orders": (Order, col(Order.district_id) == did),
        "order_history": (OrderHistory, col(OrderHistory.order_id).in_(order_ids)),
        "assignments": (Assignment, col(Assignment.order_id).in_(order_ids)),
        "operators": (Operator, col(Operator.username).in_([u for u, *_ in LOGINS])),
    }
    counts = {
        name: int((await session.execute(select(func.count()).select_from(table).where(cond))).scalar_one())
        for name, (table, cond) in where.items()
    }
    rows = await session.execute(
        select(col(Order.status), func.count()).where(col(Order.district_id) == did).group_by(col(Order.status))
    )
    by_status: dict[str, int] = {status: int(n) for status, n in rows.all()}
    statuses: dict[str, int] = {s.value: by_status[s.value] for s in Status if s.value in by_status}
    return DemoResult(created=created, counts=counts, statuses=statuses, seconds=seconds)


# ------------------------------------------------------------------ the loader


def _id(row: Any) -> int:
    """Return the id of a flushed row."""
    assert row.id is not None
    return int(row.id)


@dataclass
class _Person:
    resident: Resident
    region: int
    channel_key: str | None
    family: str | None  # the name of a family member to call, if any


@dataclass
class _Plan:
    at: datetime
    target: str
    service: str
    person: _Person
    units: int
    source: str
    urgent: bool
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class _Built:
    """One order's rows before insertion: the order, its history and its assignments."""

    order: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)

    def step(
        self, action: str, before: str | None, after: str, actor: Actor, at: datetime, reason: str | None = None
    ) -> None:
        self.history.append(
            {
                "at": at,
                "action": action,
                "from_status": before,
                "to_status": after,
                "reason": reason,
                "actor_kind": actor.kind,
                "actor_id": actor.id,
                "actor_name": actor.name,
                "channel": actor.channel,
            }
        )

    def close_assignment(self, status: str, at: datetime, reason: str | None) -> None:
        live = [a for a in self.assignments if a["status"] in ("pending", "accepted")]
        if live:
            live[-1].update(status=status, decided_at=at, decline_reason=reason or live[-1]["decline_reason"])


class _Loader:
    def __init__(self, session: AsyncSession, rng: random.Random, now: datetime) -> None:
        self.s = session
        self.rng = rng
        self.now = now
        self.start = now - timedelta(days=DAYS)
        self.regions: list[Region] = []
        self.dongs: list[tuple[Dong, int]] = []
        self.providers: list[tuple[Provider, ProviderSpec]] = []
        self.people: list[_Person] = []
        self.care_managers: list[CareManager] = []
        self.desk: list[Actor] = []
        self.caps: dict[str, int | None] = {}
        self.week_load: Counter[tuple[int, int]] = Counter()
        self.used_receipts: set[str] = set()

    async def run(self) -> District:
        district = District(code=DISTRICT_CODE, name=DISTRICT_NAME)
        self.s.add(district)
        await self.s.flush()
        assert district.id is not None
        self.district_id = district.id
        await self._places()
        await self._catalog()
        await self._operators()
        await self._providers()
        await self._care_managers()
        await self._residents()
        await self._orders()
        return district

    # -------------------------------------------------------------- places, catalog, people

    async def _places(self) -> None:
        for index, (region_name, dong_names) in enumerate(REGIONS):
            region = Region(district_id=self.district_id, name=region_name)
            self.s.add(region)
            await self.s.flush()
            self.regions.append(region)
            for name in dong_names:
                dong = Dong(district_id=self.district_id, region_id=_id(region), name=name)
                self.s.add(dong)
                self.dongs.append((dong, index))
        await self.s.flush()

    async def _catalog(self) -> None:
        # Every year the six months touch, so completions in January find their prices.
        for year in sorted({self._local(self.start).year, self._local(self.now).year}):
            await prices.create_defaults(self.s, district_id=self.district_id, year=year)
        self.caps = {code: d.cap_units for code, d in BY_CODE.items()}

    async def _operators(self) -> None:
        with clock.freeze(self.start - timedelta(days=90)):
            for username, role, display, bound in LOGINS:
                existing = await operators.get_by_username(self.s, username=username)
                op = existing or await operators.create(
                    self.s,
                    username=username,
                    password=PASSWORD,
                    role=role,
                    district_code=DISTRICT_CODE if bound else None,
                    display_name=display,
                )
                if role != "viewer":
                    self.desk.append(Actor(kind="operator", id=op.id, name=op.display_name, channel="console"))

    async def _providers(self) -> None:
        for n, spec in enumerate(PROVIDERS, start=1):
            provider = Provider(
                district_id=self.district_id,
                name=spec.name,
                kind=spec.kind,
                phone=f"+8220000{n:04d}",
                weekly_capacity=spec.weekly_capacity,
                created_at=self.start - timedelta(days=120),
            )
            self.s.add(provider)
            await self.s.flush()
            assert provider.id is not None
            for code in spec.services:
                self.s.add(ProviderService(provider_id=provider.id, service_code=code))
            for region in spec.regions:
                self.s.add(
                    ProviderRegion(
                        provider_id=_id(provider), region_id=_id(self.regions[region]), is_lead=spec.lead_of == region
                    )
                )
            self.providers.append((provider, spec))
        await self.s.flush()

    async def _care_managers(self) -> None:
        for n, dong_name in enumerate(("아현동", "망원1동"), start=1):
            dong = next(d for d, _ in self.dongs if d.name == dong_name)
            manager = CareManager(
                district_id=self.district_id,
                dong_id=_id(dong),
                name=self._name(female=n == 1, young=True),
                phone=f"+8210{9000 + n:08d}",
                created_at=self.start - timedelta(days=100),
            )
            self.s.add(manager)
            self.care_managers.append(manager)
        await self.s.flush()

    def _name(self, *, female: bool, young: bool = False, surname: str | None = None) -> str:
        first, second = YOUNG if young else (OLD_F if female else OLD_M)
        family = surname or self.rng.choices(list(SURNAMES), weights=list(SURNAMES.values()))[0]
        return family + self.rng.choice(first) + self.rng.choice(second)

    async def _residents(self) -> None:
        rng = self.rng
        admin = self.desk[0]
        # Residents first (one batched insert), then what hangs off them.
        extras: list[tuple[Resident, list[tuple[type[SQLModel], dict[str, Any]]]]] = []
        for i in range(1, N_RESIDENTS + 1):
            dong, region = rng.choice(self.dongs)
            female = rng.random() < 0.62
            young_disabled = rng.random() < 0.1
            if young_disabled:
                birth_year, disabled = rng.randint(1965, 1998), True
            else:
                birth_year, disabled = int(rng.triangular(1930, 1960, 1946)), rng.random() < 0.18
            situations: list[bool | None] = [rng.random() < p for p in (0.55, 0.4, 0.45)]
            if not any(situations) and rng.random() < 0.7:
                situations[rng.randrange(3)] = True
            if rng.random() < 0.06:  # the desk has not asked yet
                situations = [None, None, None]
            joined = self.start - timedelta(days=rng.uniform(5, 200), minutes=rng.randrange(600))
            webchat = rng.random() < 0.3
            resident = Resident(
                district_id=self.district_id,
                dong_id=dong.id,
                name=self._name(female=female, young=young_disabled),
                phone=f"+8210{i:08d}",
                address=f"마포구 {ROADS[dong.name]} {rng.randint(1, 40)}길 {rng.randint(1, 60)}",
                birth_year=birth_year,
                disabled=disabled,
                lives_alone=rng.random() < (0.3 if young_disabled else 0.55),
                cannot_manage_alone=situations[0],
                no_public_service=situations[1],
                no_family_care=situations[2],
                income_tier=rng.choices(["basic", "near_poor", "general", "unknown"], weights=[35, 25, 35, 5])[0],
                needs_phone_call=not webchat and rng.random() < 0.6,
                created_at=joined,
                updated_at=joined,
                last_active_at=joined,
            )
            self.s.add(resident)
            rows: list[tuple[type[SQLModel], dict[str, Any]]] = []
            key = f"demo-{i:04d}" if webchat else None
            if key:
                # The demo desk confirmed these accounts (decision 0009: only verified ones get check-ins).
                rows.append(
                    (
                        ResidentChannel,
                        {
                            "channel": "webchat",
                            "user_key": key,
                            "created_at": joined,
                            "verified_at": joined,
                            "verified_how": "desk",
                            "verified_by": admin.id,
                        },
                    )
                )
            items = ["이름", "연락처", "주소", "출생연도", "돌봄이 필요한 상황"] + (["장애 여부"] if disabled else [])
            consent = {
                "items": items,
                "purpose": "돌봄SOS 서비스 신청·연계·제공과 안부확인",
                "retention": "서비스 종료 후 3년",
                "text_version": "2026-01",
                "sensitive": disabled,
                "channel": "webchat" if webchat else "phone",
                "operator_id": None if webchat else admin.id,
                "given_at": joined,
            }
            rows.append((Consent, consent))
            family: str | None = None
            if rng.random() < 0.35:
                relation = rng.choice(RELATIONS)
                same_surname = relation in ("아들", "딸") and not female
                surname = resident.name[0] if same_surname else None
                family = self._name(female=relation in ("딸", "며느리"), young=True, surname=surname)
                rows.append((FamilyContact, {"name": family, "relation": relation, "phone": f"+8210{1000 + i:08d}"}))
            if resident.lives_alone and not young_disabled and rng.random() < 0.15:
                schedule = {
                    "weekdays": rng.choice([[0, 2, 4], [0, 2, 4], [1, 3], [0, 1, 2, 3, 4]]),
                    "at_minute": rng.choice([600, 600, 540, 660]),
                    "alert_family": family is not None,
                    "created_at": joined,
                }
                rows.append((CheckinSchedule, schedule))
            extras.append((resident, rows))
            self.people.append(_Person(resident=resident, region=region, channel_key=key, family=family))
        await self.s.flush()
        for resident, rows in extras:
            for table, values in rows:
                self.s.add(table(resident_id=_id(resident), **values))
        await self.s.flush()

    # -------------------------------------------------------------- orders

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(clock.zone())

    def _created_at(self) -> datetime:
        """A moment in the last six months, in office hours (08:00–20:00 Seoul)."""
        day = self._local(self.now).date() - timedelta(days=self.rng.randrange(DAYS))
        local = datetime.combine(day, datetime.min.time(), tzinfo=clock.zone())
        moment = (local + timedelta(minutes=self.rng.randrange(8 * 60, 20 * 60))).astimezone(self.now.tzinfo)
        if moment > self.now - timedelta(minutes=5):  # later today: take the day before
            moment -= timedelta(days=1)
        return moment

    def _target(self, at: datetime) -> str:
        age_days = (self.now - at).total_seconds() / 86_400
        table = next(weights for limit, weights in STATUS_BY_AGE if age_days < limit)
        return self.rng.choices(list(table), weights=list(table.values()))[0]

    def _plan(self, at: datetime, allocated: dict[tuple[int, str], int]) -> _Plan:
        rng = self.rng
        target = self._target(at)
        counts_against_cap = target not in ("cancelled", "rejected")
        source = rng.choices(["resident", "family", "care_manager", "desk_phone"], weights=[40, 35, 12, 13])[0]
        while True:
            service = rng.choices(list(SERVICE_WEIGHTS), weights=list(SERVICE_WEIGHTS.values()))[0]
            cap = self.caps[service]
            for _ in range(30):
                if source == "care_manager":
                    dong_ids = {m.dong_id for m in self.care_managers}
                    person = rng.choice([p for p in self.people if p.resident.dong_id in dong_ids])
                else:
                    person = rng.choice(self.people)
                units = rng.choice(UNIT_CHOICES[service])
                if cap is not None and counts_against_cap:
                    left = cap - allocated[(_id(person.resident), service)]
                    units = min(units, left)
                if units >= 1:
                    break
            else:
                continue  # everyone asked has used this service up: ask for another service
            if source == "resident" and person.channel_key is None:
                source = "desk_phone"
            if source == "family" and person.family is None:
                source = "desk_phone"
            if counts_against_cap:
                allocated[(_id(person.resident), service)] += units
            return _Plan(at, target, service, person, units, source, rng.random() < 0.12)

    def _minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))

    def _steps(self, plan: _Plan) -> list[tuple[str, timedelta]]:
        """The actions that bring an order to its target status, with the time before each."""
        rng = self.rng
        path = ["screen", "assign", "accept", "start", "complete"]
        stop = {"received": 0, "screening": 1, "assigned": 2, "accepted": 3, "in_progress": 4, "done": 5}
        if plan.target == "rejected":
            actions = ["screen", "reject"] if rng.random() < 0.7 else ["reject"]
        elif plan.target == "cancelled":
            actions = [*path[: rng.choice([0, 1, 1, 2, 3, 3, 4])], "cancel"]
        else:
            actions = path[: stop[plan.target]]
        if "assign" in actions:
            # A provider declines or lets the deadline pass: back to the desk, then assigned again.
            if rng.random() < 0.08:
                i = actions.index("assign") + 1
                actions[i:i] = ["expire" if rng.random() < 0.4 else "return", "assign"]
            # The desk moves an assigned or accepted order to another provider.
            if rng.random() < 0.06 and len(self._fits(plan, set())) > 1:
                after = "accept" if "accept" in actions and rng.random() < 0.4 else "assign"
                i = len(actions) - actions[::-1].index(after)  # just after its last occurrence
                actions[i:i] = ["reassign", "accept"] if after == "accept" else ["reassign"]
        low, high = DELIVERY_DAYS[plan.service]
        gaps = {
            "screen": (20, 600),
            "assign": (30, 900),
            "return": (20, 230),  # declined within the deadline (4 hours by default)
            "expire": (245, 300),  # the deadline passed without an answer
            "reassign": (60, 2_880),
            "accept": (10, 230),
            "start": (60 * 12, 60 * 72),
            "complete": (low * 1_440, high * 1_440),
            "cancel": (60, 4_320),
            "reject": (30, 1_440),
        }
        steps = [(a, self._minutes(*gaps[a])) for a in actions]
        # Squeeze the timeline into the order's age, so no step lies in the future.
        room = self.now - plan.at - timedelta(minutes=1)
        total = sum((gap for _, gap in steps), timedelta())
        if total > room:
            factor = room / total
            steps = [(a, gap * factor) for a, gap in steps]
        return steps

    def _creator(self, plan: _Plan) -> tuple[Actor, str | None]:
        """Return who made the request, and the webchat key it came through (residents only)."""
        person = plan.person
        if plan.source == "resident":
            actor = Actor(kind="resident", id=person.resident.id, name=person.resident.name, channel="webchat")
            return actor, person.channel_key
        if plan.source == "family":
            assert person.family is not None
            return Actor(kind="family", name=person.family, channel="phone"), None
        if plan.source == "care_manager":
            manager = next(m for m in self.care_managers if m.dong_id == person.resident.dong_id)
            return Actor(kind="care_manager", id=manager.id, name=manager.name, channel="telegram"), None
        desk = self.rng.choice(self.desk)
        return Actor(kind="operator", id=desk.id, name=desk.name, channel="phone"), None

    def _fits(self, plan: _Plan, exclude: set[int]) -> list[tuple[Provider, ProviderSpec]]:
        """The providers offering the service in the resident's region (in the district, when none)."""
        offer = [(p, spec) for p, spec in self.providers if plan.service in spec.services and p.id not in exclude]
        return [(p, spec) for p, spec in offer if plan.person.region in spec.regions] or offer

    def _pick_provider(self, plan: _Plan, moment: datetime, tried: set[int], current: Provider | None) -> Provider:
        """Return the provider to assign: the region's lead first while it has room, then the least loaded.

        Providers tried before are skipped while another fits; current (given on a reassignment) always is.
        """
        week = int((moment - self.start).total_seconds() // (7 * 86_400))
        fits = self._fits(plan, tried) or self._fits(plan, {current.id} if current and current.id else set())
        room = [(p, spec) for p, spec in fits if self.week_load[(_id(p), week)] < spec.weekly_capacity]
        pool = room or fits
        lead = [(p, spec) for p, spec in pool if spec.lead_of == plan.person.region]
        if lead and self.rng.random() < 0.8:
            chosen = lead[0][0]
        else:
            chosen = min(pool, key=lambda ps: (self.week_load[(_id(ps[0]), week)] / ps[1].weekly_capacity, _id(ps[0])))[
                0
            ]
        self.week_load[(_id(chosen), week)] += 1
        return chosen

    def _receipt(self, moment: datetime) -> str:
        while True:
            receipt = f"{self._local(moment):%y%m}-{self.rng.randrange(100_000):05d}"
            if receipt not in self.used_receipts:
                self.used_receipts.add(receipt)
                return receipt

    async def _orders(self) -> None:
        self.used_receipts = set(
            (await self.s.execute(select(Order.receipt_no).where(Order.created_at >= self.start - timedelta(days=31))))
            .scalars()
            .all()
        )
        allocated: dict[tuple[int, str], int] = defaultdict(int)
        plans: list[_Plan] = []
        # Each order draws from its own generator: a load at another hour, which moves a few
        # orders into another age band, leaves every other order as it was.
        for i in range(N_ORDERS):
            self.rng = random.Random(f"{SEED}:plan:{i}")
            plans.append(self._plan(self._created_at(), allocated))
            plans[-1].rng = random.Random(f"{SEED}:run:{i}")
        plans.sort(key=lambda p: p.at)
        # The newest requests show every open step of the queue, whatever the hour of loading.
        newest = [p for p in reversed(plans) if p.target not in ("cancelled", "rejected")][: 3 * len(SHOWCASE)]
        for plan, target in zip(newest, SHOWCASE * 3, strict=True):
            plan.target = target
        built: list[_Built] = []
        for plan in plans:
            self.rng = plan.rng
            built.append(self._order(plan))
        # The rows are what care.orders would write step by step (every step checked by
        # care.lifecycle.next_status below), inserted in bulk: 1,500 orders through the service
        # one statement at a time took minutes on a small machine, and the demo is for showing.
        ids = (
            await self.s.execute(
                insert(Order).returning(col(Order.id), sort_by_parameter_order=True), [b.order for b in built]
            )
        ).scalars()
        history: list[dict[str, Any]] = []
        assignments: list[dict[str, Any]] = []
        for order_id, b in zip(ids, built, strict=True):
            history.extend({**row, "order_id": order_id} for row in b.history)
            assignments.extend({**row, "order_id": order_id} for row in b.assignments)
        await self.s.execute(insert(OrderHistory), history)
        if assignments:
            await self.s.execute(insert(Assignment), assignments)

    def _order(self, plan: _Plan) -> _Built:
        """Return the rows of one order's whole life, each step allowed by the lifecycle."""
        rng = self.rng
        person = plan.person
        assert person.resident.id is not None
        creator, webchat_key = self._creator(plan)
        local = self._local(plan.at).date()
        order: dict[str, Any] = {
            "receipt_no": self._receipt(plan.at),
            "district_id": self.district_id,
            "resident_id": person.resident.id,
            "referral_id": None,
            "service_code": plan.service,
            "units": plan.units,
            "delivered_units": None,
            "requested_date": local + timedelta(days=rng.randint(1, 7)),
            "urgency": "urgent" if plan.urgent else "normal",
            "source": plan.source,
            "status": Status.RECEIVED.value,
            "details": {},
            "notes": None,
            "requested_by_channel": "webchat" if webchat_key else None,
            "requested_by_key": webchat_key,
            "created_at": plan.at,
            "updated_at": plan.at,
            "status_changed_at": plan.at,
            "version": 1,
        }
        built = _Built(order=order)
        built.step("create", None, Status.RECEIVED.value, creator, plan.at)
        moment = plan.at
        provider: Provider | None = None
        tried: set[int] = set()
        desk = rng.choice(self.desk)
        steps = self._steps(plan)
        for n, (action, gap) in enumerate(steps):
            moment = moment + gap
            last = n == len(steps) - 1
            reason: str | None = None
            actor = desk
            if action in ("assign", "reassign"):
                if provider is not None:
                    tried.add(_id(provider))
                provider = self._pick_provider(plan, moment, tried, provider if action == "reassign" else None)
                deadline = moment + timedelta(hours=4)
                if last and plan.target == "assigned":
                    # Still waiting for the provider: the deadline lies ahead, as it would.
                    deadline = self.now + timedelta(hours=rng.uniform(1, 4))
                if action == "reassign":
                    reason = rng.choice(REASSIGN_REASONS)
                    built.close_assignment("withdrawn", moment, reason)
                built.assignments.append(
                    {
                        "provider_id": _id(provider),
                        "status": "pending",
                        "assigned_at": moment,
                        "deadline": deadline,
                        "decided_at": None,
                        "decline_reason": None,
                        "assigned_by": desk.id,
                        "note": reason,
                    }
                )
            elif action == "return":
                assert provider is not None
                reason, actor = rng.choice(DECLINE_REASONS), self._by(provider)
                built.close_assignment("declined", moment, reason)
            elif action == "expire":
                reason, actor = EXPIRED_REASON, SYSTEM
                built.close_assignment("expired", moment, reason)
                action = "return"
            elif action in ("accept", "start"):
                assert provider is not None
                actor = self._by(provider)
                if action == "accept":
                    built.assignments[-1].update(status="accepted", decided_at=moment)
            elif action == "complete":
                assert provider is not None
                actor = self._by(provider)
                order["delivered_units"] = self._delivered(plan)
                built.close_assignment("done", moment, None)
            elif action == "cancel":
                reason = rng.choice(CANCEL_REASONS)
                built.close_assignment("withdrawn", moment, reason)
            elif action == "reject":
                reason = rng.choice(REJECT_REASONS)
            before = order["status"]
            after = lifecycle.next_status(before, action, reason=reason).value
            built.step(action, before, after, actor, moment, reason)
            order["status"] = after
            order["version"] += 1
            order["updated_at"] = moment
            if after != before:
                order["status_changed_at"] = moment
        return built

    def _by(self, provider: Provider) -> Actor:
        return Actor(kind="provider", id=provider.id, name=provider.name, channel="telegram")

    def _delivered(self, plan: _Plan) -> int:
        """Return the units delivered: mostly as planned, sometimes fewer (a missed visit)."""
        delivered = plan.units
        if plan.units > 1 and self.rng.random() < 0.12:
            delivered = plan.units - self.rng.randint(1, max(1, plan.units // 3))
        return delivered
