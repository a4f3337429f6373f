"""The outbox's dead letters as the desk reviews them: only its own district's, admins only.

Rows carry the district whose business they are (storage.outbox.enqueue requires it); an admin
bound to a district sees and resends that district's rows only, an admin of no district all.
"""

from __future__ import annotations

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care.auth import Access
from dolbom.errors import NotFound
from storage import outbox
from storage.models import Outbox, ResidentChannel


async def list_for_review(session: AsyncSession, *, access: Access, limit: int = 200) -> list[Outbox]:
    """Return the dead and unconfirmed messages of the admin's district, newest first (the look is logged)."""
    access.check_admin()
    rows = await outbox.list_for_review(session, district_id=access.district_id, limit=limit)
    # The texts name residents (alerts carry a name and a phone): log whose chats the rows went to.
    chats = {(r.channel, r.chat_id) for r in rows}
    named: set[int] = set()
    if chats:
        result = await session.execute(
            select(col(ResidentChannel.resident_id)).where(
                tuple_(col(ResidentChannel.channel), col(ResidentChannel.user_key)).in_(list(chats))
            )
        )
        named.update(result.scalars())
    await access.log(session, action="view_outbox_review", resident_ids=sorted(named), detail=f"{len(rows)} rows")
    return rows


async def requeue(session: AsyncSession, *, access: Access, row_id: int) -> bool:
    """Send a dead or unconfirmed message of the admin's district again; return False when it is not one."""
    access.check_admin()
    row = await session.get(Outbox, row_id)
    if row is None or not access.sees(row.district_id):
        raise NotFound()
    changed = await outbox.requeue(session, row_id=row_id, district_id=access.district_id)
    if changed:
        await access.log(session, action="outbox_requeue", detail=str(row_id))
    return changed
