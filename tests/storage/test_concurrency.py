"""Two operators reassigning the same order at the same moment: exactly one wins."""

from __future__ import annotations

import asyncio

from care import orders
from care.actors import Actor
from dolbom.errors import ConflictError
from storage.db import Database
from tests.factories import DESK, make_district, make_order, make_provider, make_resident


async def test_two_sessions_reassigning_at_once_one_wins_one_conflicts(db: Database) -> None:
    async with db.transaction() as s:
        place = await make_district(s)
        resident = await make_resident(s, place)
        first = await make_provider(s, place)
        a, b = await make_provider(s, place), await make_provider(s, place)
        order = await make_order(s, resident)
        await orders.screen(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
        await orders.assign(s, order_id=order.id, provider_id=first.id, actor=DESK)  # type: ignore[arg-type]
        seen = (await orders.get(s, order_id=order.id)).version  # type: ignore[arg-type]
    both_ready = asyncio.Barrier(2)

    async def reassign(to: int, who: str) -> str:
        # Both operators saw the order at version `seen` and press 재배정 at the same moment. (On
        # SQLite the second transaction waits at BEGIN IMMEDIATE for the first; on PostgreSQL it
        # waits on the row lock. Either way it then finds the version changed.)
        await both_ready.wait()
        try:
            async with db.transaction() as s:
                await orders.reassign(
                    s,
                    order_id=order.id,  # type: ignore[arg-type]
                    provider_id=to,
                    reason=f"{who}의 재배정",
                    actor=Actor(kind="operator", name=who, channel="console"),
                    expected_version=seen,
                )
            return "won"
        except ConflictError:
            return "conflict"

    results = await asyncio.gather(reassign(a.id, "operator-a"), reassign(b.id, "operator-b"))  # type: ignore[arg-type]
    assert sorted(results) == ["conflict", "won"]
    async with db.sessions() as s:
        final = await orders.get(s, order_id=order.id)  # type: ignore[arg-type]
        assert final.version == seen + 1
        history = await orders.list_history(s, order_id=order.id)  # type: ignore[arg-type]
        assert [h.action for h in history].count("reassign") == 1
