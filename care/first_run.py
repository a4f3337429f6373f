"""First run: while no operator exists, a one-time link (one hour, one use) creates the first admin.

`dolbom serve` calls `issue_if_needed` and prints the link; the browser opens it and
`create_first_admin` checks the token (kept only as its SHA-256), the password rules
(care/passwords.py) and that still nobody exists, then spends the link. `dolbom operator add`
stays the other way in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import operators
from dolbom import clock
from dolbom.errors import NotFound
from dolbom.i18n import N_
from storage import audit
from storage.models import FirstRunLink, Operator

PATH = "/setup/first-admin"
VALID_FOR = timedelta(hours=1)
MSG_DEAD = N_("This set-up link has expired or was already used. Please ask whoever runs the server for a new one.")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def has_operator(session: AsyncSession) -> bool:
    """Return True when at least one operator account exists."""
    return bool((await session.execute(select(func.count()).select_from(Operator))).scalar_one())


async def issue_if_needed(session: AsyncSession) -> str | None:
    """Return a fresh first-run token when no operator exists (earlier unused links die), else None."""
    if await has_operator(session):
        return None
    now = clock.now()
    # One live link at a time: a restart prints a new one and the old one stops working.
    await session.execute(
        update(FirstRunLink).where(col(FirstRunLink.used_at).is_(None)).values(used_at=now, expires_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(FirstRunLink(token_hash=_hash(token), created_at=now, expires_at=now + VALID_FOR))
    await session.flush()
    return token


def link(token: str, *, host: str, port: int) -> str:
    """Return the browser address of a first-run token for the console's host and port."""
    shown = "localhost" if host in {"127.0.0.1", "0.0.0.0", "::"} else host
    return f"http://{shown}:{port}{PATH}?token={token}"


async def check(session: AsyncSession, *, token: str) -> FirstRunLink:
    """Return the live link row of a token; raise NotFound (MSG_DEAD) when unknown, used, expired or moot."""
    row = (
        await session.execute(select(FirstRunLink).where(col(FirstRunLink.token_hash) == _hash(token or "")))
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or clock.now() >= row.expires_at or await has_operator(session):
        raise NotFound(MSG_DEAD)
    return row


async def create_first_admin(
    session: AsyncSession, *, token: str, username: str, password: str, ip: str | None = None
) -> Operator:
    """Spend the link and return the new admin of every district; raise NotFound when the link is dead."""
    row = await check(session, token=token)
    # Spent first, with a guard on used_at: of two browsers racing with the same link one wins.
    spent = await session.execute(
        update(FirstRunLink)
        .where(col(FirstRunLink.id) == row.id, col(FirstRunLink.used_at).is_(None))
        .values(used_at=clock.now())
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(MSG_DEAD)
    operator = await operators.create(session, username=username, password=password, role="admin")
    await audit.record(
        session, action="first_admin_created", operator_id=operator.id, username=operator.username, ip=ip
    )
    return operator
