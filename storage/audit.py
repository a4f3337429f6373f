"""The access log: every view, change and export of personal data (개인정보 접근기록)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AccessLog


async def record(
    session: AsyncSession,
    *,
    action: str,
    operator_id: int | None = None,
    username: str | None = None,
    ip: str | None = None,
    resident_id: int | None = None,
    detail: str | None = None,
) -> AccessLog:
    """Write one access-log row in the current transaction and return it."""
    row = AccessLog(
        action=action,
        operator_id=operator_id,
        username=username,
        ip=ip,
        resident_id=resident_id,
        detail=detail,
    )
    session.add(row)
    await session.flush()
    return row
