"""The access log: every view, change and export of personal data (개인정보 접근기록).

Rows are written once and never changed or deleted through the ORM: a flush that would
update or delete an AccessLog row raises (see `_append_only`), so no console page, service
or later route can edit the record of who looked at whom. They are kept at least
KEEP_DAYS (2 years: health data is sensitive, 개인정보의 안전성 확보조치 기준 제8조).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from dolbom import clock
from storage.models import AccessLog

KEEP_DAYS = 2 * 365 + 1  # two years, a leap day included


class AccessLogIsAppendOnly(RuntimeError):
    """Something tried to change or delete an access-log row."""


@event.listens_for(Session, "before_flush")
def _append_only(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AccessLog) and (obj in session.deleted or session.is_modified(obj)):
            raise AccessLogIsAppendOnly(f"access log row {obj.id} cannot be changed or deleted")


def keep_until(at: datetime) -> datetime:
    """Return the earliest moment a row written at `at` may be destroyed."""
    return at + timedelta(days=KEEP_DAYS)


def may_destroy_before() -> datetime:
    """Return the cutoff: only rows written before it may ever be destroyed (now − 2 years)."""
    return clock.now() - timedelta(days=KEEP_DAYS)


async def record(
    session: AsyncSession,
    *,
    action: str,
    operator_id: int | None = None,
    username: str | None = None,
    ip: str | None = None,
    resident_id: int | None = None,
    detail: str | None = None,
    resident_ids: list[int] | None = None,
    reason: str | None = None,
) -> AccessLog:
    """Write one access-log row in the current transaction and return it."""
    ids = sorted({int(i) for i in resident_ids}) if resident_ids is not None else None
    row = AccessLog(
        action=action,
        operator_id=operator_id,
        username=username,
        ip=ip,
        resident_id=resident_id,
        detail=detail,
        resident_ids=ids,
        row_count=len(ids) if ids is not None else (1 if resident_id is not None else None),
        reason=reason,
    )
    session.add(row)
    await session.flush()
    return row
