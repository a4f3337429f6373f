"""`dolbom serve` as a process against the stand-in Bot API on loopback: /start to receipt number.

The bot role long-polls getUpdates; the test plays the person by queueing updates (messages and
button presses) and reads what the bot sent. The receipt comes through the jobs role's outbox sender.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Order, Outbox
from tests.e2e.botapi import Person, StandIn
from tests.e2e.process import RECEIPT_WORDS, request_steps, serve_env, start_serve, stop

pytestmark = pytest.mark.e2e
CHAT = 424242


async def test_dolbom_serve_takes_a_request_from_start_to_receipt(serve_db: Database, db_url: str, tmp_path: Path):
    api = await StandIn().start()
    log = tmp_path / "serve.log"
    proc = start_serve(serve_env(db_url, api.url), log)
    person = Person(api, CHAT, patience=60, max_tries=1)
    try:
        for action, value, expect in request_steps("김영희", "010-1234-5678"):
            assert proc.poll() is None, log.read_text()[-3000:]
            await person.step(action, value, expect)
        # The receipt number arrives through the outbox, sent by the jobs role.
        receipt = await person.wait_for(RECEIPT_WORDS, since=0, limit=30)
        assert receipt is not None
        for _ in range(100):  # the sender marks the row sent once Telegram's answer is back
            async with serve_db.sessions() as s:
                order = (await s.execute(select(Order))).scalar_one()
                row = (await s.execute(select(Outbox).where(Outbox.kind == "receipt"))).scalar_one()
            if row.status == "sent":
                break
            await asyncio.sleep(0.1)
        assert order.receipt_no in receipt.text and order.service_code == "meals" and order.units == 10
        assert row.status == "sent"
        assert "answercallbackquery" in api.calls
        assert person.resends == 0
    finally:
        code = stop(proc)
        await api.stop()
    assert code == 0, log.read_text()[-3000:]
    assert "김영희" not in log.read_text() and "010-1234-5678" not in log.read_text()  # no typed text in logs
