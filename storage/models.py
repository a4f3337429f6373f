"""The tables of dolbom: one store for every district of Seoul.

Status and kind columns hold plain strings; their allowed values and meaning
live in `care/` (e.g. `care.lifecycle.Status`), so a new value needs no
migration. Datetimes are aware UTC (`UTCDateTime`); money is integer 원.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, MetaData, UniqueConstraint, event, text
from sqlmodel import Field, SQLModel

from dolbom import clock
from storage.types import UTCDateTime, guard_free_text

# Named constraints, so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def _now() -> datetime:
    return clock.now()


def Moment(**kw: Any) -> Any:  # noqa: N802 - reads like a type in the table bodies
    """Return a Field for an aware UTC datetime column."""
    return Field(sa_type=UTCDateTime, **kw)


def Created() -> Any:  # noqa: N802
    """Return a Field for a creation time, filled in by the clock."""
    return Field(default_factory=_now, sa_type=UTCDateTime, nullable=False)


# ---------------------------------------------------------------- places


class District(SQLModel, table=True):
    """자치구 — a district; every other place belongs to one."""

    __tablename__ = "districts"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    name: str
    # The desk's number and hours, given wherever the bot says "call the desk".
    phone: str | None = None
    office_hours: str | None = None
    active: bool = True


class Region(SQLModel, table=True):
    """권역 — a region of a district, with a lead provider."""

    __tablename__ = "regions"
    __table_args__ = (UniqueConstraint("district_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id", index=True)
    name: str
    active: bool = True


class Dong(SQLModel, table=True):
    """행정동 — an administrative neighbourhood, in one region."""

    __tablename__ = "dongs"
    __table_args__ = (UniqueConstraint("district_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id", index=True)
    region_id: int = Field(foreign_key="regions.id", index=True)
    name: str
    active: bool = True


# ---------------------------------------------------------------- catalog


class ServiceCatalog(SQLModel, table=True):
    """One service's unit, price and per-person cap for a district and year."""

    __tablename__ = "service_catalog"
    __table_args__ = (UniqueConstraint("district_id", "year", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    year: int
    code: str
    name: str
    unit_label: str
    unit_price: int = 0
    cap_units: int | None = None
    # A no-show (무단결석) bills this many units; 0 (the default): a no-show is not billed.
    no_show_units: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    active: bool = True


class SupportLimit(SQLModel, table=True):
    """The annual public support limit per person for a district and year."""

    __tablename__ = "support_limits"
    __table_args__ = (UniqueConstraint("district_id", "year"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    year: int
    annual_limit: int


# ---------------------------------------------------------------- people


class Resident(SQLModel, table=True):
    """이용자 — a person the desk serves."""

    __tablename__ = "residents"
    __table_args__ = (
        Index("ix_residents_district_name", "district_id", "name"),
        # Search by the phone's last 4 digits (the desk's most common search): an equality lookup,
        # for one district or (admin) every district.
        Index("ix_residents_phone_last4", "phone_last4", "district_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id", index=True)
    dong_id: int | None = Field(default=None, foreign_key="dongs.id", index=True)
    name: str
    phone: str | None = Field(default=None, index=True)
    # The phone's last 4 digits, kept by the phone's setter below (never written by hand).
    phone_last4: str | None = None
    address: str | None = None
    birth_year: int | None = None
    # The full birth date when the desk knows it: age is then 만 나이 exactly, not approximate.
    birth_date: date | None = None
    disabled: bool | None = None
    lives_alone: bool | None = None
    # The three 돌봄SOS situations; None while unknown.
    cannot_manage_alone: bool | None = None
    no_public_service: bool | None = None
    no_family_care: bool | None = None
    income_tier: str = "unknown"
    needs_phone_call: bool = False
    # Dates the desk records (점검: no service may be billed after them).
    died_on: date | None = None
    moved_out_on: date | None = None
    # Set on a record made by an unverified chat request that names an existing resident (same
    # district, name and phone): "possibly the same person as" that one, until the desk merges or
    # dismisses it (decision 0009). Matching by name and phone skips such records.
    same_as_id: int | None = Field(default=None, foreign_key="residents.id", index=True)
    created_at: datetime = Created()
    updated_at: datetime = Created()
    last_active_at: datetime = Created()
    purged_at: datetime | None = Moment(default=None)


def last4(phone: str | None) -> str | None:
    """Return the last 4 digits of a stored (E.164) phone number, or None."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits[-4:] if len(digits) >= 4 else None


@event.listens_for(Resident, "before_insert")
@event.listens_for(Resident, "before_update")
def _keep_last4(_mapper: Any, _connection: Any, target: Resident) -> None:
    # The one place a resident's phone is stored through: every ORM insert or update of a resident
    # keeps phone_last4 with the phone (a Core UPDATE of the phone must set both; see care.personal_data).
    target.phone_last4 = last4(target.phone)


class ResidentChannel(SQLModel, table=True):
    """A messenger account's binding to a resident: a claim until verified (decision 0009).

    Only a verified binding (verified_at set) lets the account see the resident's orders or
    receive their check-ins; verified_how is telegram_contact (the person's own shared contact,
    matching the phone) or desk (confirmed by verified_by on the resident page).
    """

    __tablename__ = "resident_channels"
    __table_args__ = (UniqueConstraint("channel", "user_key"),)
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    channel: str
    user_key: str
    language: str = "ko"
    reachable: bool = True
    created_at: datetime = Created()
    verified_at: datetime | None = Moment(default=None)
    verified_how: str | None = None  # telegram_contact | desk
    verified_by: int | None = Field(default=None, foreign_key="operators.id")
    revoked_at: datetime | None = Moment(default=None)
    revoked_by: int | None = Field(default=None, foreign_key="operators.id")


class Consent(SQLModel, table=True):
    """개인정보 수집·이용 동의 — one consent as given: items, purpose, retention, text version."""

    __tablename__ = "consents"
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    items: list[str] = Field(default_factory=list, sa_type=JSON)
    purpose: str
    retention: str
    text_version: str
    sensitive: bool = False
    channel: str
    operator_id: int | None = Field(default=None, foreign_key="operators.id")
    given_at: datetime = Created()


class FamilyContact(SQLModel, table=True):
    """가족·보호자 — a family member's own record, linked to the resident.

    notify says which alerts they were registered for (missed check-ins); nothing is sent to
    their messenger account until the desk has confirmed the binding (verified_at, decision 0009).
    """

    __tablename__ = "family_contacts"
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    name: str
    relation: str | None = None
    phone: str | None = None
    channel: str | None = None
    user_key: str | None = None
    notify: bool = True
    # The family member's own consent to their name and phone being kept (text version, time).
    consent_version: str | None = None
    consent_at: datetime | None = Moment(default=None)
    created_at: datetime | None = Moment(default=None)
    verified_at: datetime | None = Moment(default=None)
    verified_by: int | None = Field(default=None, foreign_key="operators.id")
    revoked_at: datetime | None = Moment(default=None)
    revoked_by: int | None = Field(default=None, foreign_key="operators.id")


class CareManager(SQLModel, table=True):
    """동 돌봄매니저 — a dong's care manager who refers residents."""

    __tablename__ = "care_managers"
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id", index=True)
    dong_id: int = Field(foreign_key="dongs.id", index=True)
    name: str
    phone: str | None = None
    job_type: str = "social_worker"  # social_worker (사회복지직) | nurse (간호직)
    active: bool = True
    created_at: datetime = Created()


class Provider(SQLModel, table=True):
    """제공기관 — an organisation that delivers services."""

    __tablename__ = "providers"
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id", index=True)
    name: str
    kind: str = "social_enterprise"
    phone: str | None = None
    weekly_capacity: int = 20
    active: bool = True
    contact_channel: str | None = None
    contact_user_key: str | None = None
    created_at: datetime = Created()
    # registered | pending (등록 대기: no orders until its pre-registration consulting is recorded,
    # care.registration and decision 0018). Existing rows and imports are registered.
    registration: str = Field(default="registered", sa_column_kwargs={"server_default": "registered"})


class ProviderConsulting(SQLModel, table=True):
    """사전 컨설팅 — the pre-registration consulting of a new provider, as the desk recorded it."""

    __tablename__ = "provider_consultings"
    id: int | None = Field(default=None, primary_key=True)
    provider_id: int = Field(foreign_key="providers.id", index=True)
    consulted_on: date
    consultant: str  # who consulted (지원단 담당자, 구청 담당자)
    note: str | None = None
    recorded_by: int | None = Field(default=None, foreign_key="operators.id")
    recorded_at: datetime = Created()


class ProviderService(SQLModel, table=True):
    """A service a provider offers."""

    __tablename__ = "provider_services"
    provider_id: int = Field(foreign_key="providers.id", primary_key=True)
    service_code: str = Field(primary_key=True)
    weekly_capacity: int | None = None  # None: the provider's overall weekly_capacity applies


class ProviderRegion(SQLModel, table=True):
    """A region a provider serves; is_lead marks the region's 권역별 책임기업."""

    __tablename__ = "provider_regions"
    provider_id: int = Field(foreign_key="providers.id", primary_key=True)
    region_id: int = Field(foreign_key="regions.id", primary_key=True)
    is_lead: bool = False


class ChannelBinding(SQLModel, table=True):
    """A messenger account bound to a care manager or a provider's staff member."""

    __tablename__ = "channel_bindings"
    __table_args__ = (Index("ix_channel_bindings_key", "channel", "user_key"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str
    user_key: str
    role: str  # care_manager | provider_staff
    care_manager_id: int | None = Field(default=None, foreign_key="care_managers.id")
    provider_id: int | None = Field(default=None, foreign_key="providers.id")
    display_name: str | None = None
    created_at: datetime = Created()
    revoked_at: datetime | None = Moment(default=None)


class InviteCode(SQLModel, table=True):
    """A one-time code that binds a messenger account to a role."""

    __tablename__ = "invite_codes"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    role: str  # care_manager | provider_staff
    care_manager_id: int | None = Field(default=None, foreign_key="care_managers.id")
    provider_id: int | None = Field(default=None, foreign_key="providers.id")
    created_by: int | None = Field(default=None, foreign_key="operators.id")
    created_at: datetime = Created()
    expires_at: datetime = Moment()
    used_at: datetime | None = Moment(default=None)
    used_by_key: str | None = None


# ---------------------------------------------------------------- orders


class Referral(SQLModel, table=True):
    """의뢰 — a care manager's service plan for a resident; one order per service."""

    __tablename__ = "referrals"
    id: int | None = Field(default=None, primary_key=True)
    care_manager_id: int = Field(foreign_key="care_managers.id", index=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    urgency: str = "normal"
    notes: str | None = None
    consent_confirmed: bool = False
    created_at: datetime = Created()


# Open statuses (care.lifecycle.OPEN), spelled out for the partial indexes of the queue.
_OPEN_WHERE = "status IN ('received', 'screening', 'assigned', 'accepted', 'in_progress')"
_OPEN_ONLY: dict[str, Any] = {"postgresql_where": text(_OPEN_WHERE), "sqlite_where": text(_OPEN_WHERE)}


class Order(SQLModel, table=True):
    """신청 — one request for one service for one resident."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_queue", "district_id", "status", "created_at"),
        Index("ix_orders_resident", "resident_id", "service_code"),
        # The queue (decision 0013): open orders only, so the desk's tabs, counts and poll marker
        # never read the district's history; the all-district admin view has its own.
        Index("ix_orders_open_queue", "district_id", "urgency", "created_at", "id", **_OPEN_ONLY),
        Index("ix_orders_open_marker", "district_id", "status", "updated_at", "id", **_OPEN_ONLY),
        Index("ix_orders_open_all", "urgency", "created_at", "id", **_OPEN_ONLY),
        Index("ix_orders_open_all_marker", "status", "updated_at", "id", **_OPEN_ONLY),
        # Every order (history tab) and its sortable columns.
        Index("ix_orders_district_created", "district_id", "created_at", "id"),
        Index("ix_orders_district_service", "district_id", "service_code", "created_at", "id"),
        # The all-district admin's 전체 tab (every order, newest first): keyset pages without a district.
        Index("ix_orders_created", "created_at", "id"),
        # The settlement's year so far (statistics' amounts, the month's settlement): the district's
        # completed orders by completion time, index-only (PostgreSQL keeps the walk's columns in it).
        Index(
            "ix_orders_district_done",
            "district_id",
            "status",
            "status_changed_at",
            postgresql_include=["id", "units", "delivered_units", "resident_id", "service_code", "receipt_no"],
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    receipt_no: str = Field(unique=True)
    district_id: int = Field(foreign_key="districts.id")
    resident_id: int = Field(foreign_key="residents.id")
    referral_id: int | None = Field(default=None, foreign_key="referrals.id", index=True)
    service_code: str
    units: int = 1
    delivered_units: int | None = None
    requested_date: date | None = None
    urgency: str = "normal"
    source: str = "resident"
    status: str = "received"
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    notes: str | None = None
    # Which account asked ("who is talking"); resident_id is whom it is for. They differ.
    requested_by_channel: str | None = None
    requested_by_key: str | None = Field(default=None, index=True)
    # Values the request brought that differ from the resident's record: shown to the desk
    # with apply buttons, never written over the record ({field: value}, decision 0009).
    proposed: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Created()
    updated_at: datetime = Created()
    status_changed_at: datetime = Created()
    # Optimistic concurrency: every change is UPDATE ... WHERE version = :seen.
    version: int = 1
    # The resident answered "일부만 받았어요" / "못 받았어요" after the provider reported completion:
    # the desk checks it before settlement (care.surveys).
    completion_disputed_at: datetime | None = Moment(default=None)


class OrderHistory(SQLModel, table=True):
    """One step in an order's life: who, when, from → to, why. Append-only."""

    __tablename__ = "order_history"
    # "Mine" in the queue: the orders an operator has touched.
    __table_args__ = (
        Index("ix_order_history_actor", "actor_kind", "actor_id", "order_id"),
        # 통계: a period's assignments, returns and reassignments (care.statistics), without reading all history.
        Index("ix_order_history_action_at", "action", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    at: datetime = Created()
    action: str
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    actor_kind: str  # operator | resident | care_manager | provider | system
    actor_id: int | None = None
    actor_name: str | None = None
    channel: str | None = None  # console | telegram | webchat | phone | jobs


class Assignment(SQLModel, table=True):
    """배정 — an order given to a provider, with the deadline to accept."""

    __tablename__ = "assignments"
    __table_args__ = (
        Index("ix_assignments_provider_status", "provider_id", "status"),
        # A provider's load this week (the assignment proposal on every order page): an index-only range.
        Index("ix_assignments_provider_assigned", "provider_id", "assigned_at", "status"),
        # Who is paid for a completed order (the settlement: its last done assignment): index-only.
        Index("ix_assignments_order_status", "order_id", "status", "id", postgresql_include=["provider_id"]),
        # Statistics' providers table (the assignments of a period): a range instead of a scan of all.
        Index("ix_assignments_assigned_at", "assigned_at", postgresql_include=["order_id", "provider_id", "status"]),
    )
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    provider_id: int = Field(foreign_key="providers.id")
    status: str = "pending"  # pending | accepted | declined | expired | withdrawn | done
    assigned_at: datetime = Created()
    deadline: datetime = Moment()
    decided_at: datetime | None = Moment(default=None)
    decline_reason: str | None = None
    assigned_by: int | None = Field(default=None, foreign_key="operators.id")
    note: str | None = None


# ---------------------------------------------------------------- entitlements


class EligibilityDecision(SQLModel, table=True):
    """돌봄SOS 대상 결정 — the desk's decision on eligibility and the verified income tier. Append-only."""

    __tablename__ = "eligibility_decisions"
    __table_args__ = (Index("ix_eligibility_decisions_resident", "resident_id", "decided_at"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    resident_id: int = Field(foreign_key="residents.id")
    eligible: bool
    ground: str | None = None  # elderly | disabled (None when not eligible)
    situations: list[str] = Field(default_factory=list, sa_type=JSON)  # codes of the three situations
    income_tier: str  # basic | near_poor | general, as verified
    valid_from: date
    valid_until: date | None = None
    decided_by: int | None = Field(default=None, foreign_key="operators.id")
    decided_by_name: str | None = None
    decided_at: datetime = Created()
    note: str | None = None


class EntitlementEntry(SQLModel, table=True):
    """One order's claim on the resident's yearly entitlement: units and 원, reserved then settled or released."""

    __tablename__ = "entitlement_entries"
    __table_args__ = (Index("ix_entitlement_entries_resident_year", "resident_id", "year"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    resident_id: int = Field(foreign_key="residents.id")
    order_id: int = Field(foreign_key="orders.id", unique=True)
    year: int
    service_code: str
    units: int = 0
    public_amount: int = 0
    resident_amount: int = 0
    funding: str = "public"  # public | self_paid (resident pays all) | pay_excess (resident pays over cap/limit)
    consent_note: str | None = None  # how the resident agreed to pay (their words as the desk wrote them)
    consent_by: str | None = None  # who recorded the consent
    consent_at: datetime | None = Moment(default=None)
    status: str = "planned"  # planned | reserved | settled | released
    created_at: datetime = Created()
    updated_at: datetime = Created()


class Visit(SQLModel, table=True):
    """One delivery or visit of an order on a day (오늘 1식 전달, 3시간 방문), or a no-show (무단결석).

    Changed only by a correction (care.closing.correct_visit), which keeps what was first recorded.
    """

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_order", "order_id", "day"),
        Index("ix_visits_district_day", "district_id", "day"),
    )
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    order_id: int = Field(foreign_key="orders.id")
    resident_id: int = Field(foreign_key="residents.id")
    provider_id: int | None = Field(default=None, foreign_key="providers.id")
    day: date
    units: int = 0  # delivered units (0 for a no-show)
    kind: str = "delivered"  # delivered | no_show
    reason: str | None = None  # why a no-show (이용자 부재, 무단결석 ...)
    recorded_by_kind: str = "provider"  # provider | operator
    recorded_by_name: str | None = None
    created_at: datetime = Created()
    # A correction keeps what was first recorded (a closed month's correction is also an adjustment line).
    corrected_at: datetime | None = Moment(default=None)
    corrected_by_name: str | None = None
    correction_reason: str | None = None
    original_units: int | None = None
    original_kind: str | None = None


# ---------------------------------------------------------------- settlement


class SettlementClose(SQLModel, table=True):
    """마감 — a district's month of settlement, closed once: its lines are frozen in settlement_closed_lines."""

    __tablename__ = "settlement_closes"
    __table_args__ = (UniqueConstraint("district_id", "year", "month"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    year: int
    month: int
    closed_at: datetime = Created()
    closed_by: int | None = Field(default=None, foreign_key="operators.id")
    closed_by_name: str | None = None
    # The month's sums in 원 as closed (lines and the adjustments paid in it).
    total: int = 0
    public: int = 0
    resident: int = 0


class SettlementClosedLine(SQLModel, table=True):
    """One billable line of a closed month, as it was paid. Never changes."""

    __tablename__ = "settlement_closed_lines"
    id: int | None = Field(default=None, primary_key=True)
    close_id: int = Field(foreign_key="settlement_closes.id", index=True)
    district_id: int = Field(foreign_key="districts.id")
    provider_id: int = Field(foreign_key="providers.id")
    provider_name: str
    order_id: int = Field(foreign_key="orders.id")
    visit_id: int | None = Field(default=None, foreign_key="visits.id")
    receipt_no: str
    resident_id: int = Field(foreign_key="residents.id", index=True)
    service_code: str
    day: date
    units: int
    unit_price: int
    total: int
    public: int
    resident: int
    flags: list[str] = Field(default_factory=list, sa_type=JSON)


class SettlementAdjustment(SQLModel, table=True):
    """조정 — a correction to a closed month, paid in the next open month and referring to the original."""

    __tablename__ = "settlement_adjustments"
    __table_args__ = (
        Index("ix_settlement_adjustments_month", "district_id", "year", "month"),
        Index("ix_settlement_adjustments_resident", "resident_id", "original_year", "original_month"),
    )
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    year: int  # the open month it is paid in
    month: int
    day: date  # when the correction was made (Asia/Seoul)
    original_year: int  # the closed month it corrects
    original_month: int
    provider_id: int | None = Field(default=None, foreign_key="providers.id")
    order_id: int = Field(foreign_key="orders.id")
    visit_id: int | None = Field(default=None, foreign_key="visits.id")  # the visit corrected, if one was
    resident_id: int = Field(foreign_key="residents.id")
    service_code: str
    # Differences in units and 원 (negative when less is paid than was).
    units: int = 0
    unit_price: int = 0
    total: int = 0
    public: int = 0
    resident: int = 0
    reason: str
    created_by: int | None = Field(default=None, foreign_key="operators.id")
    created_by_name: str | None = None
    created_at: datetime = Created()


class CopayPayment(SQLModel, table=True):
    """본인부담금 납부 or 환급 — money the resident paid, or the desk gave back, for a month's statement."""

    __tablename__ = "copay_payments"
    __table_args__ = (Index("ix_copay_payments_resident_month", "resident_id", "year", "month"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    resident_id: int = Field(foreign_key="residents.id")
    year: int  # the statement's month
    month: int
    kind: str = "payment"  # payment | refund
    day: date  # paid (or refunded) on
    amount: int  # 원, always positive
    method: str  # transfer | cash | card
    reason: str | None = None  # required for a refund
    recorded_by: int | None = Field(default=None, foreign_key="operators.id")
    recorded_by_name: str | None = None
    created_at: datetime = Created()


class BillingCheckResolution(SQLModel, table=True):
    """점검: the desk's note resolving one flag as it was (its fingerprint); new data raises the flag again."""

    __tablename__ = "billing_check_resolutions"
    __table_args__ = (Index("ix_billing_check_resolutions_key", "district_id", "flag_key"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    # The resident the flag is about (None for a provider's week over capacity): the purge finds the note by it.
    resident_id: int | None = Field(default=None, foreign_key="residents.id", index=True)
    flag_key: str  # e.g. over_plan:12, two_providers:5:meals:2026-12-04
    fingerprint: str  # a hash of the visits and plan data the flag was computed from
    note: str
    resolved_by_id: int | None = Field(default=None, foreign_key="operators.id")
    resolved_by_name: str
    resolved_at: datetime = Created()


# ---------------------------------------------------------------- desk


class Operator(SQLModel, table=True):
    """A desk operator who signs in to the console."""

    __tablename__ = "operators"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True)
    display_name: str | None = None
    password_hash: str
    role: str = "operator"  # admin | operator | viewer
    district_id: int | None = Field(default=None, foreign_key="districts.id")
    active: bool = True
    # Set by an admin: the next sign-in leads only to the change-password page (decision 0010).
    must_change_password: bool = False
    created_at: datetime = Created()
    last_login_at: datetime | None = Moment(default=None)


class SavedFilter(SQLModel, table=True):
    """A queue view an operator saved under a name: the filter codes of its URL, shown as a link."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("operator_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    operator_id: int = Field(foreign_key="operators.id", index=True)
    name: str
    query: str  # "tab=desk&service=meals" (no search text: searches are POSTs and never saved)
    created_at: datetime = Created()


class SignInThrottle(SQLModel, table=True):
    """Recent failed sign-ins of one client address, typed username or trusted browser (decision 0010).

    The key holds an address or a SHA-256, never a typed username: an attacker's guesses of
    usernames (or a registration number typed into the box) are not kept.
    """

    __tablename__ = "signin_throttles"
    key: str = Field(primary_key=True)
    failures: int = 0
    last_failure_at: datetime | None = Moment(default=None, index=True)
    next_allowed_at: datetime | None = Moment(default=None)


class OperatorSession(SQLModel, table=True):
    """A console sign-in, kept on the server so sign-out really ends it."""

    __tablename__ = "operator_sessions"
    id: str = Field(primary_key=True)
    operator_id: int = Field(foreign_key="operators.id", index=True)
    csrf_token: str
    ip: str | None = None
    created_at: datetime = Created()
    last_seen_at: datetime = Created()
    revoked_at: datetime | None = Moment(default=None)


class FirstRunLink(SQLModel, table=True):
    """The one-time link `dolbom serve` prints while no operator exists: it creates the first admin.

    Only the SHA-256 of the token is kept; a link is good for one hour and one use.
    """

    __tablename__ = "first_run_links"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    created_at: datetime = Created()
    expires_at: datetime = Moment()
    used_at: datetime | None = Moment(default=None)


class AccessLog(SQLModel, table=True):
    """접근기록 — every view, change and export of personal data, and every sign-in."""

    __tablename__ = "access_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Created()
    operator_id: int | None = Field(default=None, foreign_key="operators.id", index=True)
    username: str | None = None
    ip: str | None = None
    resident_id: int | None = Field(default=None, index=True)
    action: str
    detail: str | None = None
    # Every resident a list, search, board or export showed (resident_id is the one of a single view).
    resident_ids: list[int] | None = Field(default=None, sa_type=JSON)
    row_count: int | None = None  # how many residents were shown or exported
    reason: str | None = None  # why a download was made, as the operator wrote it


# ---------------------------------------------------------------- messaging


class Conversation(SQLModel, table=True):
    """Where one person is in a bot flow, per (channel, user key)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "user_key"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str
    user_key: str
    language: str = "ko"
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    version: int = 1
    created_at: datetime = Created()
    updated_at: datetime = Created()


class Inbound(SQLModel, table=True):
    """An incoming update, stored before it is confirmed to the messenger, then handled and answered from here.

    status: pending (to handle; a failed attempt waits until not_before) → handled (its effect and
    its answer committed together) → answered (the answer went out; payload and answer are
    cleared) — or dead (failed too often: the desk was told, the person got an apology).
    See storage.inbound and decision 0006.
    """

    __tablename__ = "inbound"
    __table_args__ = (
        UniqueConstraint("bot_id", "update_id"),
        Index("ix_inbound_due", "status", "not_before"),
        Index("ix_inbound_chat", "bot_id", "chat_id", "update_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    bot_id: int = Field(sa_type=BigInteger)
    update_id: int = Field(sa_type=BigInteger)
    chat_id: str | None = None  # the person's chat: the ordering key, and who the desk must call back
    kind: str = "other"  # message | edited_message | callback_query | my_chat_member | other
    payload: dict[str, Any] | None = Field(default=None, sa_type=JSON(none_as_null=True))  # None once answered
    status: str = "pending"
    attempts: int = 0
    not_before: datetime = Created()
    last_error: str | None = None
    answer: list[Any] | None = Field(default=None, sa_type=JSON(none_as_null=True))  # what to send once committed
    sent: int = 0  # how many of the answer's actions went out (a retry continues from there)
    received_at: datetime = Created()
    handled_at: datetime | None = Moment(default=None)
    answered_at: datetime | None = Moment(default=None)


class DeskThread(SQLModel, table=True):
    """A conversation with the desk (inbox), opened by a person or by a check-in."""

    __tablename__ = "desk_threads"
    id: int | None = Field(default=None, primary_key=True)
    channel: str
    user_key: str
    resident_id: int | None = Field(default=None, foreign_key="residents.id", index=True)
    district_id: int | None = Field(default=None, foreign_key="districts.id")
    # talk | checkin_help | no_consent_callback | unplaced | order_question | service_not_received
    reason: str = "talk"
    status: str = "open"  # open | pending (대기) | snoozed (나중에) | resolved (해결)
    created_at: datetime = Created()
    updated_at: datetime = Created()
    # The order the conversation is about (a care manager's question, 못 받았어요, or linked by the desk).
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="operators.id", index=True)
    assigned_at: datetime | None = Moment(default=None)
    # Bumped by every assignment, take-over and status change: a guarded UPDATE refuses a stale one.
    version: int = 1
    snoozed_until: datetime | None = Moment(default=None)
    last_in_at: datetime | None = Moment(default=None)  # the person's latest message
    waiting_since: datetime | None = Moment(default=None)  # oldest message of theirs not yet answered
    first_reply_at: datetime | None = Moment(default=None)
    read_at: datetime | None = Moment(default=None)  # when the desk last opened it
    resolved_at: datetime | None = Moment(default=None)
    rating_asked_at: datetime | None = Moment(default=None)  # the 1–5 question after 해결, asked once
    rating: int | None = None


class DeskMessage(SQLModel, table=True):
    """One message in a desk thread."""

    __tablename__ = "desk_messages"
    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="desk_threads.id", index=True)
    at: datetime = Created()
    direction: str  # in | out | note (staff only: internal notes, take-overs, assignments)
    text: str
    operator_id: int | None = Field(default=None, foreign_key="operators.id")


class CannedReply(SQLModel, table=True):
    """A reply the desk inserts by typing `/` and its short code; the admin edits them."""

    __tablename__ = "canned_replies"
    __table_args__ = (UniqueConstraint("district_id", "code", name="uq_canned_replies_district_code"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    code: str
    text: str
    updated_at: datetime = Created()


class InboxSetting(SQLModel, table=True):
    """A district's inbox rules: the first-answer time (in office minutes), office hours, the per-operator limit."""

    __tablename__ = "inbox_settings"
    district_id: int = Field(foreign_key="districts.id", primary_key=True)
    first_answer_minutes: int = 30
    office_start_minute: int = 540  # 09:00
    office_end_minute: int = 1080  # 18:00
    assign_limit: int = 10  # open conversations one operator holds before auto-assignment skips them
    auto_assign: bool = True


class Outbox(SQLModel, table=True):
    """A message the system sends on its own, written with the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        Index("ix_outbox_district_status", "district_id", "status"),
        # The sender keeps each chat's order: "an earlier row of these chats still on its way?"
        Index("ix_outbox_chat", "channel", "chat_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # The district whose business the message is (None: no district's, e.g. a provider-wide notice);
    # the console shows a row only to that district's staff.
    district_id: int | None = Field(default=None, foreign_key="districts.id")
    channel: str
    chat_id: str
    # Whom the message is about (a check-in alert to the family names the resident): the
    # retention purge finds and blanks it by this id (care.personal_data).
    resident_id: int | None = Field(default=None, index=True)
    text: str
    buttons: list[Any] | None = Field(default=None, sa_type=JSON)
    kind: str = "notice"
    ref: str | None = None
    status: str = "pending"  # pending | claimed | sending | sent | unconfirmed | dead | cancelled
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = Created()
    not_before: datetime = Created()
    claimed_until: datetime | None = Moment(default=None)
    claimed_by: str | None = None  # the sender instance holding the claim (jobs)
    sent_at: datetime | None = Moment(default=None)


# ---------------------------------------------------------------- check-ins


class CheckinSchedule(SQLModel, table=True):
    """안부확인 일정 — when to ask a resident how they are, and whom to alert."""

    __tablename__ = "checkin_schedules"
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id", unique=True)
    weekdays: list[int] = Field(default_factory=list, sa_type=JSON)  # 0 = Monday
    at_minute: int = 600  # minutes after local midnight: 600 = 10:00
    # A second time a day (e.g. 1260 = 21:00, the night safety check 야간안전확인), or None.
    second_minute: int | None = None
    paused_until: date | None = None
    alert_family: bool = True
    alert_care_manager: bool = True
    active: bool = True
    created_at: datetime = Created()
    # Slots before this moment are not owed: a schedule set at 15:00 for 10:00 starts tomorrow.
    effective_from: datetime | None = Moment(default=None)


class CheckinSlot(SQLModel, table=True):
    """One scheduled check-in; the unique key makes a slot happen once."""

    __tablename__ = "checkin_slots"
    __table_args__ = (
        UniqueConstraint("resident_id", "scheduled_at"),
        Index("ix_checkin_slots_status", "status", "scheduled_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id")
    scheduled_at: datetime = Moment()
    status: str = "pending"  # pending|sent|reminded|answered|missed|escalated|unreachable|skipped
    answer: str | None = None  # ok | help
    sent_at: datetime | None = Moment(default=None)
    reminded_at: datetime | None = Moment(default=None)
    escalated_at: datetime | None = Moment(default=None)
    answered_at: datetime | None = Moment(default=None)
    all_clear_sent: bool = False
    # Where the question went, the moment it was declared missed, who was alerted, and why it was skipped.
    channel: str | None = None
    chat_id: str | None = None
    missed_at: datetime | None = Moment(default=None)
    alerted: list[Any] | None = Field(default=None, sa_type=JSON)
    note: str | None = None
    # The desk's follow-up of a missed check-in: what (checkins.FOLLOWUPS), a note, who and when.
    followup: str | None = None
    followup_note: str | None = None
    followup_by: int | None = Field(default=None, foreign_key="operators.id")
    followup_at: datetime | None = Moment(default=None)


class Survey(SQLModel, table=True):
    """만족도 조사 — one satisfaction question after a completed order."""

    __tablename__ = "surveys"
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", unique=True)
    channel: str | None = None
    chat_id: str | None = None
    sent_at: datetime | None = Moment(default=None)
    score: int | None = None
    comment: str | None = None
    answered_at: datetime | None = Moment(default=None)
    # The first question, "도시락 잘 받으셨어요?": all | partly | none (care.surveys.RECEIVED).
    received: str | None = None
    received_at: datetime | None = Moment(default=None)
    # A person with no messenger answered the desk's phone survey (care.satisfaction): who wrote it down, when.
    phone_at: datetime | None = Moment(default=None)
    phone_by: int | None = Field(default=None, foreign_key="operators.id")
    phone_by_name: str | None = None


class DeskNotice(SQLModel, table=True):
    """알림 — something the jobs tell the desk: an assignment deadline missed, a late intake, the daily digest."""

    __tablename__ = "desk_notices"
    __table_args__ = (Index("ix_desk_notices_district", "district_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int | None = Field(default=None, foreign_key="districts.id")
    kind: str  # assignment_expired | digest
    order_id: int | None = Field(default=None, foreign_key="orders.id")
    # The resident a notice names when it is about no order (a check-in not sent): the view is logged.
    resident_id: int | None = Field(default=None, foreign_key="residents.id")
    title: str
    body: str = ""
    created_at: datetime = Created()
    read_at: datetime | None = Moment(default=None)


class PhoneCall(SQLModel, table=True):
    """전화 안내 — a change of an order the desk tells by phone to a resident with no messenger."""

    __tablename__ = "phone_calls"
    __table_args__ = (Index("ix_phone_calls_district", "district_id", "done_at", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    resident_id: int = Field(foreign_key="residents.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    kind: str  # the order notice it stands for: assigned | accepted | returned | reassigned | ...
    text: str  # what to say, the same words the messenger notice has
    created_at: datetime = Created()
    done_at: datetime | None = Moment(default=None)
    done_by: int | None = Field(default=None, foreign_key="operators.id")


# ---------------------------------------------------------------- statistics


class StatisticsTarget(SQLModel, table=True):
    """월 목표 — a district's monthly target for one service (seed 000: 식사 월 1,000건, 주거 월 20가구)."""

    __tablename__ = "statistics_targets"
    __table_args__ = (UniqueConstraint("district_id", "service_code", "measure"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id", index=True)
    service_code: str
    measure: str = "orders"  # what is counted: orders | residents | units (care.statistics.MEASURE)
    monthly: int
    updated_at: datetime = Created()
    updated_by: int | None = Field(default=None, foreign_key="operators.id")


# ---------------------------------------------------------------- quality


class Complaint(SQLModel, table=True):
    """민원·사고 — a complaint or an incident the desk records, follows with steps and closes with an outcome."""

    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_district_status", "district_id", "status", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    category: str  # care.complaints.CATEGORIES: service | unkind | accident | conflict | other
    source: str = "phone"  # where it came in: phone | inbox | order
    resident_id: int | None = Field(default=None, foreign_key="residents.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    provider_id: int | None = Field(default=None, foreign_key="providers.id", index=True)
    thread_id: int | None = Field(default=None, foreign_key="desk_threads.id")
    what_happened: str
    decided_by: str | None = None  # who decided what to do (a name or a post, as the desk wrote it)
    status: str = "open"  # open | closed
    outcome: str | None = None  # required to close
    created_by: int | None = Field(default=None, foreign_key="operators.id")
    created_by_name: str | None = None
    created_at: datetime = Created()
    updated_at: datetime = Created()
    closed_at: datetime | None = Moment(default=None)
    closed_by: int | None = Field(default=None, foreign_key="operators.id")
    closed_by_name: str | None = None


class ComplaintStep(SQLModel, table=True):
    """A step the desk took about a complaint (a call, a visit, a talk with the provider), in order."""

    __tablename__ = "complaint_steps"
    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaints.id", index=True)
    at: datetime = Created()
    text: str
    operator_id: int | None = Field(default=None, foreign_key="operators.id")
    operator_name: str | None = None


# ---------------------------------------------------------------- monitoring (모니터링)


class MonitoringItem(SQLModel, table=True):
    """점검표 항목 — one item of a district's monitoring checklist; retired, never deleted."""

    __tablename__ = "monitoring_items"
    __table_args__ = (Index("ix_monitoring_items_district", "district_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    position: int = 0
    text: str
    active: bool = True
    created_at: datetime = Created()


class Inspection(SQLModel, table=True):
    """모니터링 — one planned inspection of a provider: 정기 (regular) or 수시 (ad hoc, with a reason)."""

    __tablename__ = "inspections"
    __table_args__ = (Index("ix_inspections_district", "district_id", "planned_on"),)
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id")
    provider_id: int = Field(foreign_key="providers.id", index=True)
    kind: str = "regular"  # regular (정기) | adhoc (수시)
    planned_on: date
    reason: str | None = None  # why an ad-hoc one (a fraud report, a complaint)
    status: str = "planned"  # planned | done
    done_on: date | None = None
    summary: str | None = None
    created_by: int | None = Field(default=None, foreign_key="operators.id")
    created_at: datetime = Created()
    recorded_by: int | None = Field(default=None, foreign_key="operators.id")
    recorded_at: datetime | None = Moment(default=None)
    shared_at: datetime | None = Moment(default=None)  # last time the results went to the provider
    shared_by: int | None = Field(default=None, foreign_key="operators.id")
    shared_to: int = 0  # how many of the provider's bot contacts got them


class InspectionResult(SQLModel, table=True):
    """One checklist item's result in an inspection; the item's text is kept as it was asked."""

    __tablename__ = "inspection_results"
    inspection_id: int = Field(foreign_key="inspections.id", primary_key=True)
    item_id: int = Field(foreign_key="monitoring_items.id", primary_key=True)
    item_text: str
    verdict: str  # pass (적합) | fail (부적합) | na (해당없음)
    note: str | None = None


class InspectionAction(SQLModel, table=True):
    """후속 조치 — a follow-up an inspection asks of the provider, due on a date."""

    __tablename__ = "inspection_actions"
    __table_args__ = (Index("ix_inspection_actions_open", "done_at", "due_on"),)
    id: int | None = Field(default=None, primary_key=True)
    inspection_id: int = Field(foreign_key="inspections.id", index=True)
    text: str
    due_on: date
    created_by: int | None = Field(default=None, foreign_key="operators.id")
    created_at: datetime = Created()
    done_at: datetime | None = Moment(default=None)
    done_by: int | None = Field(default=None, foreign_key="operators.id")
    done_note: str | None = None


# ---------------------------------------------------------------- no registration numbers

# Text columns that hold machine identifiers, never words a person typed: they are exempt from
# the registration-number guard (a Telegram supergroup id such as -1001234567890 or a SHA-256
# hex digest can look like 13 digits). Everything else that holds text or JSON is guarded;
# tests/storage/test_free_text_guard.py fails on a text/JSON column in neither state.
NOT_FREE_TEXT: dict[tuple[str, str], str] = {
    ("operator_sessions", "id"): "SHA-256 hex of a random session token",
    ("operator_sessions", "csrf_token"): "random token",
    ("resident_channels", "user_key"): "messenger chat id",
    ("family_contacts", "user_key"): "messenger chat id",
    ("channel_bindings", "user_key"): "messenger chat id",
    ("providers", "contact_user_key"): "messenger chat id",
    ("invite_codes", "used_by_key"): "messenger chat id",
    ("orders", "requested_by_key"): "messenger chat id",
    ("conversations", "user_key"): "messenger chat id",
    ("desk_threads", "user_key"): "messenger chat id",
    ("outbox", "chat_id"): "messenger chat id",
    ("checkin_slots", "chat_id"): "messenger chat id",
    ("checkin_slots", "followup"): "a code from care.checkins.FOLLOWUPS",
    ("surveys", "chat_id"): "messenger chat id",
    ("operators", "password_hash"): "argon2 hash",
}

guard_free_text(metadata, exempt=NOT_FREE_TEXT)
