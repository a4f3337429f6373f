"""The scheduled jobs: each runs one care step in its own transactions and returns what it did.

The due work lives in the tables (slots, outbox rows, deadlines), so running a job twice, late,
or after a restart repeats nothing and loses nothing.
"""

from __future__ import annotations

import logging

from care import chasers, checkins, digest, retention, surveys
from dolbom import clock
from dolbom.errors import AppError
from dolbom.settings import get_settings
from storage.db import Database

log = logging.getLogger("dolbom.jobs")
BATCH = 500


async def checkin_dispatch(database: Database) -> int:
    """Create due check-in slots and their questions, a batch per transaction; return how many."""
    async with database.transaction() as session:
        not_sent = await checkins.record_not_sent(session)
    if not_sent:
        log.warning("check-ins never sent yesterday (jobs were down), told the desk: %d", not_sent)
    total = 0
    while True:
        async with database.transaction() as session:
            made = await checkins.dispatch_due(session, limit=BATCH)
        total += made
        if made < BATCH:
            break
    if total:
        log.info("check-ins dispatched: %d", total)
    return total


async def checkin_escalate(database: Database) -> tuple[int, int]:
    """Send reminders and declare missed check-ins; return (reminded, missed)."""
    async with database.transaction() as session:
        reminded = await checkins.remind_due(session)
    async with database.transaction() as session:
        missed = await checkins.escalate_due(session)
    return reminded, missed


async def assignment_deadlines(database: Database) -> int:
    """Return expired assignments to the desk, one transaction each; return how many."""
    async with database.transaction() as session:
        ids = await chasers.list_expired_assignment_ids(session)
    done = 0
    for assignment_id in ids:
        try:
            async with database.transaction() as session:
                if await chasers.expire_assignment(session, assignment_id=assignment_id):
                    done += 1
        except AppError:  # the desk or the provider acted on it meanwhile
            log.info("assignment %s changed meanwhile; left alone", assignment_id)
    return done


async def survey_send(database: Database) -> int:
    """Ask about satisfaction one day after completion; return how many were asked."""
    async with database.transaction() as session:
        return await surveys.send_due(session)


async def daily_digest(database: Database) -> int:
    """From the digest time on, write yesterday's digest for each district not done yet; return how many."""
    local = clock.local_now()
    if local.hour * 60 + local.minute < get_settings().digest_at_minute:
        return 0
    async with database.transaction() as session:
        return len(await digest.write_daily(session))


async def retention_purge(database: Database) -> int:
    """Destroy personal data of residents inactive past the retention period; return how many."""
    async with database.transaction() as session:
        purged = await retention.purge_due(session)
    async with database.transaction() as session:
        forgotten, updates = await retention.purge_conversations(session)
    if purged and database.is_sqlite:
        # The old page images of what was just destroyed still sit in the -wal file until it is
        # checkpointed; TRUNCATE copies them over (secure_delete zeroes the freed space) and empties it.
        async with database.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    if forgotten or updates:
        log.info("idle conversations forgotten: %d; old update ids purged: %d", forgotten, updates)
    return purged
