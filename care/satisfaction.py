"""만족도: the survey answers and comments per provider and per service, month by month, and the phone survey.

The survey goes by bot (care.surveys): a day after a provider reports an order done, whoever asked
for it (or the resident's verified account, or the referring care manager) is asked. When nobody
has a messenger the survey row is made all the same, with no channel: those people are listed here
so the desk can call them, and the answer the desk writes down (score 1–5 and a comment) is stored
on the same row, so it counts in the same figures (here, in care.surveys.provider_scores and in
the statistics page's provider table).

An answer counts in the month it was given (Asia/Seoul); a provider is the one whose assignment of
the order is done. Of two operators writing down the same phone answer at once exactly one is kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import labels, parsing
from care.auth import Access
from care.residents import OutOfDistrict, clean_reason
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound
from dolbom.i18n import N_
from storage.models import Assignment, District, Operator, Order, Provider, Resident, Survey

MESSENGER, PHONE = "messenger", "phone"
VIA: dict[str, str] = {MESSENGER: N_("Messenger"), PHONE: N_("By phone")}
MSG_ANSWERED = N_("Someone has already written down this person's answer. It was not changed.")
MSG_SCORE = N_("Please choose a score from 1 to 5.")
MAX_MONTHS = 24
DEFAULT_MONTHS = 6
NO_PROVIDER = N_("No provider")
_SERVICE_ORDER = {code: i for i, code in enumerate(labels.SERVICE)}


@dataclass(frozen=True)
class Months:
    """The months shown, first and last included ("YYYY-MM")."""

    first: date
    last: date

    @property
    def keys(self) -> list[str]:
        out: list[str] = []
        y, m = self.first.year, self.first.month
        while (y, m) <= (self.last.year, self.last.month):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, 1, tzinfo=clock.zone())

    @property
    def end(self) -> datetime:
        y, m = (self.last.year + 1, 1) if self.last.month == 12 else (self.last.year, self.last.month + 1)
        return datetime(y, m, 1, tzinfo=clock.zone())


def parse_months(params: Mapping[str, str]) -> Months:
    """Return the months from=YYYY-MM to=YYYY-MM; nothing given: the last six months up to this one."""
    bad = InvalidInput(N_("That answer could not be understood."))
    first_text, last_text = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    today = clock.today()
    for text in (first_text, last_text):
        if text and not re.fullmatch(r"\d{4}-\d{2}", text):
            raise bad
    try:
        last = date(int(last_text[:4]), int(last_text[5:]), 1) if last_text else date(today.year, today.month, 1)
        if first_text:
            first = date(int(first_text[:4]), int(first_text[5:]), 1)
        else:
            back = last.year * 12 + last.month - 1 - (DEFAULT_MONTHS - 1)
            first = date(back // 12, back % 12 + 1, 1)
    except ValueError:
        raise bad from None
    span = (last.year - first.year) * 12 + last.month - first.month
    if span < 0 or span >= MAX_MONTHS or first.year < 2000:
        raise bad
    return Months(first, last)


@dataclass
class Figure:
    """Answers and the sum of their scores (the average is sum / answers)."""

    answers: int = 0
    total: int = 0
    by_phone: int = 0
    comments: int = 0

    def add(self, score: int, *, phone: bool, comment: bool) -> None:
        self.answers += 1
        self.total += score
        self.by_phone += phone
        self.comments += comment

    @property
    def average(self) -> float | None:
        return round(self.total / self.answers, 2) if self.answers else None


@dataclass
class Line:
    """One provider or service: its figure for each month and over all the months."""

    key: str
    label: str
    months: dict[str, Figure] = field(default_factory=dict)
    overall: Figure = field(default_factory=Figure)


@dataclass(frozen=True)
class Answer:
    """One answer with its comment, as the comments table shows it."""

    survey_id: int
    answered_at: datetime | None
    provider: str
    service_code: str
    score: int
    comment: str | None
    via: str
    order_id: int
    receipt_no: str
    resident_id: int


@dataclass(frozen=True)
class ToCall:
    """One person the bot could not ask: whom to call and about which order."""

    survey_id: int
    resident_id: int
    name: str
    phone: str
    order_id: int
    receipt_no: str
    service_code: str
    provider: str
    done_at: datetime


@dataclass
class Report:
    """Everything the satisfaction page shows, for the months and the district."""

    months: Months
    district_id: int | None
    district_name: str
    providers: list[Line]
    services: list[Line]
    overall: Figure
    answers: list[Answer]
    to_call: list[ToCall]

    @property
    def resident_ids(self) -> list[int]:
        return sorted({a.resident_id for a in self.answers if a.comment} | {c.resident_id for c in self.to_call})


def _phone(value: str | None) -> str:
    if not value:
        return ""
    try:
        return parsing.format_phone(value)
    except Exception:  # an odd stored number is shown as stored
        return value


def _month_of(moment: datetime) -> str:
    return moment.astimezone(clock.zone()).strftime("%Y-%m")


def _district(access: Access, district_id: int | None) -> int | None:
    return access.district_id if access.district_id is not None else district_id


async def compute(session: AsyncSession, *, months: Months, district_id: int | None) -> Report:
    """Return the report for the months and a district (None: every district); no access check."""
    done = and_(col(Assignment.order_id) == col(Order.id), col(Assignment.status) == "done")
    answered = (
        select(Survey, Order, col(Provider.id), col(Provider.name))
        .join(Order, col(Order.id) == col(Survey.order_id))
        .outerjoin(Assignment, done)
        .outerjoin(Provider, col(Provider.id) == col(Assignment.provider_id))
        .where(
            col(Survey.score).is_not(None),
            col(Survey.answered_at) >= months.start,
            col(Survey.answered_at) < months.end,
        )
        .order_by(col(Survey.answered_at).desc(), col(Survey.id).desc())
    )
    if district_id is not None:
        answered = answered.where(col(Order.district_id) == district_id)
    keys = months.keys
    providers: dict[str, Line] = {}
    services: dict[str, Line] = {}
    overall = Figure()
    answers: list[Answer] = []
    for survey, order, provider_id, provider_name in (await session.execute(answered)).all():
        assert survey.score is not None and survey.answered_at is not None
        month = _month_of(survey.answered_at)
        phone = survey.phone_at is not None
        comment = bool(survey.comment)
        p_key = str(provider_id) if provider_id is not None else ""
        lines = (
            providers.setdefault(p_key, Line(p_key, provider_name or "")),
            services.setdefault(order.service_code, Line(order.service_code, order.service_code)),
        )
        for line in lines:
            line.months.setdefault(month, Figure()).add(survey.score, phone=phone, comment=comment)
            line.overall.add(survey.score, phone=phone, comment=comment)
        overall.add(survey.score, phone=phone, comment=comment)
        answers.append(
            Answer(
                survey_id=survey.id,  # type: ignore[arg-type]
                answered_at=survey.answered_at,
                provider=provider_name or "",
                service_code=order.service_code,
                score=survey.score,
                comment=survey.comment,
                via=PHONE if phone else MESSENGER,
                order_id=order.id,  # type: ignore[arg-type]
                receipt_no=order.receipt_no,
                resident_id=order.resident_id,
            )
        )
    for line in (*providers.values(), *services.values()):
        for key in keys:
            line.months.setdefault(key, Figure())
    uncalled = (
        select(Survey, Order, Resident, col(Provider.name))
        .join(Order, col(Order.id) == col(Survey.order_id))
        .join(Resident, col(Resident.id) == col(Order.resident_id))
        .outerjoin(Assignment, done)
        .outerjoin(Provider, col(Provider.id) == col(Assignment.provider_id))
        .where(
            col(Survey.channel).is_(None),
            col(Survey.score).is_(None),
            col(Resident.purged_at).is_(None),
        )
        .order_by(col(Order.status_changed_at), col(Survey.id))
        .limit(500)
    )
    if district_id is not None:
        uncalled = uncalled.where(col(Order.district_id) == district_id)
    to_call = [
        ToCall(
            survey_id=survey.id,  # type: ignore[arg-type]
            resident_id=resident.id,  # type: ignore[arg-type]
            name=resident.name,
            phone=_phone(resident.phone),
            order_id=order.id,  # type: ignore[arg-type]
            receipt_no=order.receipt_no,
            service_code=order.service_code,
            provider=provider_name or "",
            done_at=order.status_changed_at,
        )
        for survey, order, resident, provider_name in (await session.execute(uncalled)).all()
    ]
    district = await session.get(District, district_id) if district_id is not None else None
    return Report(
        months=months,
        district_id=district_id,
        district_name=district.name if district else "",
        providers=sorted(providers.values(), key=lambda line: (line.key == "", line.label, line.key)),
        services=sorted(services.values(), key=lambda line: (_SERVICE_ORDER.get(line.key, 99), line.key)),
        overall=overall,
        answers=answers,
        to_call=to_call,
    )


async def get_report(
    session: AsyncSession, *, access: Access, months: Months, district_id: int | None = None
) -> Report:
    """Return the satisfaction report of the operator's district (an all-district admin: their pick, or all);
    the residents whose comments or names it shows are logged."""
    district = _district(access, district_id)
    if district is not None and await session.get(District, district) is None:
        raise NotFound()
    report = await compute(session, months=months, district_id=district)
    await access.log(
        session,
        action="satisfaction_view",
        resident_ids=report.resident_ids,
        detail=f"{months.keys[0]}~{months.keys[-1]} district={district}",
    )
    return report


async def export_report(
    session: AsyncSession, *, access: Access, months: Months, reason: str | None, district_id: int | None = None
) -> Report:
    """Return the report for a download (writers, with a reason); the download is logged with the reason."""
    access.check_writer()
    why = clean_reason(reason)
    district = _district(access, district_id)
    if district is not None and await session.get(District, district) is None:
        raise NotFound()
    report = await compute(session, months=months, district_id=district)
    await access.log(
        session,
        action="satisfaction_export",
        resident_ids=report.resident_ids,
        detail=f"{months.keys[0]}~{months.keys[-1]} district={district}",
        reason=why,
    )
    return report


async def record_phone_answer(
    session: AsyncSession, *, access: Access, survey_id: int, score: int | None, comment: str | None
) -> Survey:
    """Write down the answer to the desk's phone survey (writers) and return the survey; logged.

    Only a survey nobody has answered yet takes it: of two operators writing it down at once, the
    second gets ConflictError and the first answer stays.
    """
    access.check_writer()
    if score is None or score not in range(1, 6):
        raise InvalidInput(MSG_SCORE)
    text = (comment or "").strip()[:1000] or None
    if text:
        parsing.refuse_registration_number(text)
    survey = await session.get(Survey, survey_id, populate_existing=True)
    if survey is None:
        raise NotFound()
    order = await session.get(Order, survey.order_id)
    if order is None:
        raise NotFound()
    if not access.sees(order.district_id):
        raise OutOfDistrict(what="survey", thing_id=survey_id, resident_id=order.resident_id)
    if survey.score is not None:
        raise ConflictError(MSG_ANSWERED)
    operator = await session.get(Operator, access.operator_id) if access.operator_id else None
    now = clock.now()
    won = await session.execute(
        update(Survey)
        .where(col(Survey.id) == survey_id, col(Survey.score).is_(None))
        .values(
            score=score,
            comment=text,
            answered_at=now,
            phone_at=now,
            phone_by=access.operator_id,
            phone_by_name=(operator.display_name or operator.username) if operator else access.username,
        )
        .execution_options(synchronize_session=False)
    )
    if not won.rowcount:  # type: ignore[attr-defined]
        raise ConflictError(MSG_ANSWERED)
    await access.log(session, action="survey_phone_answer", resident_id=order.resident_id, detail=f"survey {survey_id}")
    stored = await session.get(Survey, survey_id, populate_existing=True)
    assert stored is not None
    return stored
