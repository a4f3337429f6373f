"""모니터링 (seed 004): the district's checklist, inspections planned per provider (정기 / 수시), results
per checklist item, follow-ups with due dates, and the results shared with the provider.

Named 모니터링 (not 점검) in the console: 점검 is the billing checks' list (care/billing_checks.py).
Every read and write is scoped to the operator's district here; another district's inspection,
item or provider is OutOfDistrict (404, and the attempt is logged).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import order_notices
from care.auth import Access
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, ReasonRequired, RuleViolation
from dolbom.i18n import N_, gettext
from storage import outbox
from storage.db import lock_row
from storage.models import (
    District,
    Inspection,
    InspectionAction,
    InspectionResult,
    MonitoringItem,
    Provider,
)

TITLE: Final = N_("Monitoring")
KINDS: Final = {"regular": N_("Regular monitoring"), "adhoc": N_("Ad-hoc monitoring")}
VERDICTS: Final = {"pass": N_("Meets"), "fail": N_("Does not meet"), "na": N_("Not applicable")}
STATUSES: Final = {"planned": N_("Planned"), "done": N_("Done")}
MAX_ITEMS: Final = 100
LOCALE: Final = "ko"  # the provider's staff read the bot in Korean


def _(msgid: str, **params: Any) -> str:
    return gettext(msgid, LOCALE, **params)


# ------------------------------------------------------------------ checklist


async def _district(session: AsyncSession, *, access: Access, district_id: int | None) -> int:
    """Return the district the operator works on: their own, or the one an all-district admin names."""
    chosen = access.district_id if access.district_id is not None else district_id
    if chosen is None:
        raise InvalidInput(N_("Please choose a district."))
    if await session.get(District, chosen) is None:
        raise NotFound()
    return chosen


async def list_checklist(
    session: AsyncSession, *, access: Access, district_id: int | None = None, retired: bool = True
) -> list[MonitoringItem]:
    """Return the district's checklist items in order (the retired ones last, when asked for)."""
    chosen = await _district(session, access=access, district_id=district_id)
    q = select(MonitoringItem).where(col(MonitoringItem.district_id) == chosen)
    if not retired:
        q = q.where(col(MonitoringItem.active))
    q = q.order_by(col(MonitoringItem.active).desc(), col(MonitoringItem.position), col(MonitoringItem.id))
    return list((await session.execute(q)).scalars())


def _item_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput(N_("Please write the checklist item."))
    if len(text) > 200:
        raise InvalidInput(N_("Please keep a checklist item under 200 characters."))
    return text


async def add_item(session: AsyncSession, *, access: Access, district_id: int | None, text: str) -> MonitoringItem:
    """Add an item at the end of the district's checklist (admins); return it."""
    access.check_admin()
    chosen = await _district(session, access=access, district_id=district_id)
    text = _item_text(text)
    count, last = (
        await session.execute(
            select(func.count(), func.max(col(MonitoringItem.position))).where(
                col(MonitoringItem.district_id) == chosen
            )
        )
    ).one()
    if count >= MAX_ITEMS:
        raise RuleViolation(N_("A checklist holds at most {n} items."), n=MAX_ITEMS)
    item = MonitoringItem(district_id=chosen, position=(last or 0) + 1, text=text)
    session.add(item)
    await access.log(session, action="monitoring_checklist", detail=f"district {chosen}: added {text[:60]}")
    await session.flush()
    return item


# A starting checklist from seed 004's 정기 / 수시 모니터링 (사업 지침 준수, 부정사용, 민원, 본인부담금,
# 이용시간과 결제, 개인정보): a district's admin adds it in one go and rewords it as they like.
DEFAULT_ITEMS = (
    N_("The provider follows the programme's guidelines"),
    N_("Service times in the records match what was delivered"),
    N_("Payments are made the agreed way, with no sign of fraudulent billing"),
    N_("Co-payments and refunds are recorded and explained to the resident"),
    N_("Complaints are recorded and dealt with"),
    N_("Personal data is kept safe (paper and screens)"),
)


async def add_defaults(session: AsyncSession, *, access: Access, district_id: int | None) -> int:
    """Give a district with no checklist items the starting checklist (admins); return the district.

    Once the district has any item (even retired) nothing is added: two admins pressing at once
    add it once (the district's row is locked while counting).
    """
    access.check_admin()
    chosen = await _district(session, access=access, district_id=district_id)
    await lock_row(session, District, chosen)
    count = (await session.execute(select(func.count()).where(col(MonitoringItem.district_id) == chosen))).scalar_one()
    if count:
        raise RuleViolation(N_("This district has a checklist already: add or change its items one by one."))
    for position, msgid in enumerate(DEFAULT_ITEMS, start=1):
        session.add(MonitoringItem(district_id=chosen, position=position, text=gettext(msgid, "ko")))
    await access.log(session, action="monitoring_checklist", detail=f"district {chosen}: the starting checklist")
    await session.flush()
    return chosen


async def update_item(
    session: AsyncSession, *, access: Access, item_id: int, text: str, position: int, active: bool
) -> MonitoringItem:
    """Change an item's text or place, or retire it (past results keep the words they were given); return it."""
    item = await session.get(MonitoringItem, item_id)
    if item is None:
        raise NotFound()
    if not access.sees(item.district_id):
        raise OutOfDistrict(what="monitoring item", thing_id=item_id)
    access.check_admin()
    item.text = _item_text(text)
    item.position = max(0, min(position, 10_000))
    item.active = active
    session.add(item)
    await access.log(
        session, action="monitoring_checklist", detail=f"item {item_id}: position={item.position} active={active}"
    )
    await session.flush()
    return item


# ------------------------------------------------------------------ inspections


async def _provider(session: AsyncSession, *, access: Access, provider_id: int) -> Provider:
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise NotFound()
    if not access.sees(provider.district_id):
        raise OutOfDistrict(what="provider", thing_id=provider_id)
    return provider


async def _inspection(session: AsyncSession, *, access: Access, inspection_id: int, lock: bool = False) -> Inspection:
    if lock:
        # Two people saving results at once: the second waits here, then replaces the first's rows.
        await lock_row(session, Inspection, inspection_id)
    inspection = await session.get(Inspection, inspection_id, populate_existing=True)
    if inspection is None:
        raise NotFound()
    if not access.sees(inspection.district_id):
        raise OutOfDistrict(what="inspection", thing_id=inspection_id)
    return inspection


async def plan(
    session: AsyncSession,
    *,
    access: Access,
    provider_id: int,
    kind: str,
    planned_on: date | None,
    reason: str | None = None,
) -> Inspection:
    """Plan an inspection of a provider of the operator's district (writers); return it.

    A 수시 (ad-hoc) one needs its reason: the fraud report or complaint that called for it.
    """
    access.check_writer()
    provider = await _provider(session, access=access, provider_id=provider_id)
    if kind not in KINDS:
        raise InvalidInput(N_("Please choose regular or ad-hoc monitoring."))
    if planned_on is None:
        raise InvalidInput(N_("Please give the planned date."))
    reason = (reason or "").strip()[:2000] or None
    if kind == "adhoc" and not reason:
        raise ReasonRequired()
    assert provider.id is not None
    inspection = Inspection(
        district_id=provider.district_id,
        provider_id=provider.id,
        kind=kind,
        planned_on=planned_on,
        reason=reason,
        created_by=access.operator_id,
    )
    session.add(inspection)
    await session.flush()
    await access.log(
        session,
        action="monitoring_plan",
        detail=f"inspection {inspection.id}: provider {provider.id} {kind} {planned_on.isoformat()}",
    )
    return inspection


@dataclass
class Row:
    """One inspection as the list shows it."""

    inspection: Inspection
    provider_name: str
    fails: int = 0
    open_followups: int = 0
    overdue_followups: int = 0


@dataclass
class Overdue:
    """A follow-up past its due date and not done."""

    action: InspectionAction
    inspection: Inspection
    provider_name: str
    days_late: int


@dataclass
class Board:
    """The monitoring list: inspections (of one provider, or all), and every overdue follow-up."""

    rows: list[Row] = field(default_factory=list)
    overdue: list[Overdue] = field(default_factory=list)
    provider: Provider | None = None
    providers: list[Provider] = field(default_factory=list)  # those an inspection can be planned for


async def board(session: AsyncSession, *, access: Access, provider_id: int | None = None, limit: int = 300) -> Board:
    """Return the inspections of the operator's district (or of one provider of it), newest plan first,
    with their failed items and follow-ups, and every overdue follow-up."""
    out = Board()
    if provider_id is not None:
        out.provider = await _provider(session, access=access, provider_id=provider_id)
    pq = select(Provider).order_by(col(Provider.district_id), col(Provider.name))
    if access.district_id is not None:
        pq = pq.where(col(Provider.district_id) == access.district_id)
    out.providers = list((await session.execute(pq)).scalars())
    names = {p.id: p.name for p in out.providers}
    q = select(Inspection).order_by(col(Inspection.planned_on).desc(), col(Inspection.id).desc()).limit(limit)
    if access.district_id is not None:
        q = q.where(col(Inspection.district_id) == access.district_id)
    if provider_id is not None:
        q = q.where(col(Inspection.provider_id) == provider_id)
    inspections = list((await session.execute(q)).scalars())
    ids = [i.id for i in inspections if i.id is not None]
    fails: Counter[int] = Counter()
    if ids:
        for iid, n in (
            await session.execute(
                select(col(InspectionResult.inspection_id), func.count())
                .where(col(InspectionResult.inspection_id).in_(ids), col(InspectionResult.verdict) == "fail")
                .group_by(col(InspectionResult.inspection_id))
            )
        ).all():
            fails[iid] = n
    today = clock.today()
    # Open follow-ups of the district (or provider): the list's counts and the overdue section.
    aq = (
        select(InspectionAction, Inspection)
        .join(Inspection, col(Inspection.id) == col(InspectionAction.inspection_id))
        .where(col(InspectionAction.done_at).is_(None))
        .order_by(col(InspectionAction.due_on), col(InspectionAction.id))
    )
    if access.district_id is not None:
        aq = aq.where(col(Inspection.district_id) == access.district_id)
    if provider_id is not None:
        aq = aq.where(col(Inspection.provider_id) == provider_id)
    open_by: dict[int, list[InspectionAction]] = defaultdict(list)
    for action, inspection in (await session.execute(aq)).all():
        open_by[action.inspection_id].append(action)
        if action.due_on < today:
            out.overdue.append(
                Overdue(
                    action=action,
                    inspection=inspection,
                    provider_name=names.get(inspection.provider_id, ""),
                    days_late=(today - action.due_on).days,
                )
            )
    for i in inspections:
        assert i.id is not None
        actions = open_by.get(i.id, [])
        out.rows.append(
            Row(
                inspection=i,
                provider_name=names.get(i.provider_id, ""),
                fails=fails[i.id],
                open_followups=len(actions),
                overdue_followups=sum(a.due_on < today for a in actions),
            )
        )
    return out


@dataclass
class Line:
    """One checklist item of an inspection: its words and, once recorded, the result."""

    item_id: int
    text: str
    verdict: str | None = None
    note: str | None = None
    retired: bool = False


@dataclass
class View:
    """One inspection with its checklist lines, follow-ups and whom the results can go to."""

    inspection: Inspection
    provider: Provider
    lines: list[Line]
    actions: list[InspectionAction]
    contacts: int  # how many bot contacts of the provider would get the results
    today: date

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(line.verdict for line in self.lines if line.verdict)
        return {v: c.get(v, 0) for v in VERDICTS}

    def overdue(self, action: InspectionAction) -> bool:
        return action.done_at is None and action.due_on < self.today


async def get(session: AsyncSession, *, access: Access, inspection_id: int) -> View:
    """Return an inspection of the operator's district with its lines (the checklist's active items,
    and the items it already answered even if retired since), follow-ups and the provider's contacts."""
    inspection = await _inspection(session, access=access, inspection_id=inspection_id)
    provider = await session.get(Provider, inspection.provider_id)
    assert provider is not None and provider.id is not None
    results = {
        r.item_id: r
        for r in (
            await session.execute(select(InspectionResult).where(col(InspectionResult.inspection_id) == inspection_id))
        ).scalars()
    }
    items = list(
        (
            await session.execute(
                select(MonitoringItem)
                .where(col(MonitoringItem.district_id) == inspection.district_id)
                .order_by(col(MonitoringItem.position), col(MonitoringItem.id))
            )
        ).scalars()
    )
    lines: list[Line] = []
    for item in items:
        assert item.id is not None
        result = results.get(item.id)
        if result is not None:
            lines.append(Line(item.id, result.item_text, result.verdict, result.note, retired=not item.active))
        elif item.active:
            lines.append(Line(item.id, item.text))
    actions = list(
        (
            await session.execute(
                select(InspectionAction)
                .where(col(InspectionAction.inspection_id) == inspection_id)
                .order_by(col(InspectionAction.due_on), col(InspectionAction.id))
            )
        ).scalars()
    )
    contacts = len(await order_notices.provider_targets(session, provider_id=provider.id))
    return View(inspection, provider, lines, actions, contacts, clock.today())


async def record_results(
    session: AsyncSession,
    *,
    access: Access,
    inspection_id: int,
    done_on: date | None,
    results: dict[int, tuple[str, str | None]],
    summary: str | None = None,
) -> Inspection:
    """Record (or correct) an inspection's result per checklist item and mark it done (writers); return it.

    Every item must be one of the inspection's district; each verdict is pass, fail or na. Items left
    out keep no result. The item's words are kept with the result, so a later edit or retirement of
    the item does not change what was asked.
    """
    access.check_writer()
    inspection = await _inspection(session, access=access, inspection_id=inspection_id, lock=True)
    if done_on is None:
        raise InvalidInput(N_("Please give the date of the visit."))
    if done_on > clock.today():
        raise InvalidInput(N_("The visit cannot be in the future."))
    if not results:
        raise InvalidInput(N_("Please give a result for at least one checklist item."))
    if any(verdict not in VERDICTS for verdict, _note in results.values()):
        raise InvalidInput(N_("Each result is meets, does not meet or not applicable."))
    items = {
        i.id: i
        for i in (
            await session.execute(select(MonitoringItem).where(col(MonitoringItem.id).in_(list(results))))
        ).scalars()
    }
    for item_id in results:
        item = items.get(item_id)
        if item is None or item.district_id != inspection.district_id:
            raise NotFound()
    answered = {
        r.item_id: r
        for r in (
            await session.execute(select(InspectionResult).where(col(InspectionResult.inspection_id) == inspection_id))
        ).scalars()
    }
    await session.execute(
        delete(InspectionResult).where(
            col(InspectionResult.inspection_id) == inspection_id, col(InspectionResult.item_id).in_(list(results))
        )
    )
    for item_id, (verdict, note) in results.items():
        # A correction keeps the words the item had when it was first answered.
        earlier = answered.get(item_id)
        session.add(
            InspectionResult(
                inspection_id=inspection_id,
                item_id=item_id,
                item_text=earlier.item_text if earlier is not None else items[item_id].text,
                verdict=verdict,
                note=(note or "").strip()[:500] or None,
            )
        )
    inspection.status = "done"
    inspection.done_on = done_on
    inspection.summary = (summary or "").strip()[:2000] or None
    inspection.recorded_by = access.operator_id
    inspection.recorded_at = clock.now()
    session.add(inspection)
    verdicts = Counter(v for v, _n in results.values())
    await access.log(
        session,
        action="monitoring_results",
        detail=f"inspection {inspection_id}: " + " ".join(f"{k}={verdicts.get(k, 0)}" for k in VERDICTS),
    )
    await session.flush()
    return inspection


async def add_followup(
    session: AsyncSession, *, access: Access, inspection_id: int, text: str, due_on: date | None
) -> InspectionAction:
    """Add a follow-up the provider must do by a date (writers); return it."""
    access.check_writer()
    await _inspection(session, access=access, inspection_id=inspection_id)
    text = (text or "").strip()
    if not text:
        raise InvalidInput(N_("Please write what the provider must do."))
    if due_on is None:
        raise InvalidInput(N_("Please give the due date."))
    action = InspectionAction(
        inspection_id=inspection_id, text=text[:200], due_on=due_on, created_by=access.operator_id
    )
    session.add(action)
    await session.flush()
    await access.log(
        session,
        action="monitoring_followup",
        detail=f"inspection {inspection_id}: follow-up {action.id} due {due_on.isoformat()}",
    )
    return action


async def close_followup(
    session: AsyncSession, *, access: Access, action_id: int, note: str | None = None
) -> InspectionAction:
    """Mark a follow-up done, with how (writers); return it. One done already is returned as it is."""
    access.check_writer()
    action = await session.get(InspectionAction, action_id, populate_existing=True)
    if action is None:
        raise NotFound()
    await _inspection(session, access=access, inspection_id=action.inspection_id)
    if action.done_at is not None:
        return action  # two people closing it at once: the first one's note stands
    action.done_at = clock.now()
    action.done_by = access.operator_id
    action.done_note = (note or "").strip()[:200] or None
    session.add(action)
    await access.log(session, action="monitoring_followup_done", detail=f"follow-up {action_id}")
    await session.flush()
    return action


def summary_text(view: View) -> str:
    """Return the short Korean summary the provider gets: counts, items that did not meet, follow-ups."""
    i = view.inspection
    counts = view.counts
    lines = [
        _(N_("[Monitoring results] {provider}"), provider=view.provider.name),
        _(
            N_("{kind} on {day}"),
            kind=_(KINDS.get(i.kind, i.kind)),
            day=(i.done_on or i.planned_on).isoformat(),
        ),
        _(
            N_("Meets {ok} · Does not meet {fail} · Not applicable {na}"),
            ok=counts["pass"],
            fail=counts["fail"],
            na=counts["na"],
        ),
    ]
    failed = [line for line in view.lines if line.verdict == "fail"]
    if failed:
        lines.append(_(N_("Items that did not meet:")))
        lines += [f"- {line.text}" + (f": {line.note}" if line.note else "") for line in failed]
    pending = [a for a in view.actions if a.done_at is None]
    if pending:
        lines.append(_(N_("Please do by the date:")))
        lines += ["- " + _(N_("{what} (by {day})"), what=a.text, day=a.due_on.isoformat()) for a in pending]
    if i.summary:
        lines.append(i.summary)
    return "\n".join(lines)


async def share(session: AsyncSession, *, access: Access, inspection_id: int) -> int:
    """Send a done inspection's summary to every bot contact of the provider through the outbox, record
    the sharing, and return how many messages were queued (writers)."""
    access.check_writer()
    view = await get(session, access=access, inspection_id=inspection_id)
    inspection = view.inspection
    if inspection.status != "done":
        raise RuleViolation(N_("Please record the results before sharing them."))
    assert view.provider.id is not None
    targets = await order_notices.provider_targets(session, provider_id=view.provider.id)
    if not targets:
        raise RuleViolation(N_("Nobody of this provider uses the bot yet: please share the results by phone or mail."))
    text = summary_text(view)
    for channel, chat_id in targets:
        await outbox.enqueue(
            session,
            district_id=inspection.district_id,
            channel=channel,
            chat_id=chat_id,
            text=text,
            kind="monitoring_result",
            ref=f"inspection:{inspection_id}",
        )
    inspection.shared_at = clock.now()
    inspection.shared_by = access.operator_id
    inspection.shared_to = len(targets)
    session.add(inspection)
    await access.log(session, action="monitoring_share", detail=f"inspection {inspection_id}: {len(targets)} contacts")
    await session.flush()
    return len(targets)
