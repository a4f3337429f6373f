"""Console sign-in: argon2id passwords, slowing down and locking, server-side sessions.

Every sign-in, failure, refusal while locked, lock and sign-out is written to the
access log. Session tokens are random; the table keeps only their SHA-256, so a
copy of the database does not let anyone in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import operators
from dolbom import clock
from dolbom.errors import PermissionDenied
from dolbom.i18n import N_
from storage import audit
from storage.models import AccessLog, Operator, OperatorSession

# Failures 1-2 cost nothing; from the 3rd the next try must wait (5 s, 10 s, ...);
# the LOCK_AFTER-th failure in a row locks the account for LOCK_MINUTES.
FREE_FAILURES = 2
FIRST_WAIT_SECONDS = 5
LOCK_AFTER = 5
LOCK_MINUTES = 15

MSG_WRONG = N_("The username or password is not right.")
MSG_WAIT = N_("Too many failed attempts. Please wait {seconds} seconds and try again.")
MSG_LOCKED = N_("This account is locked after repeated failures. Please try again in {minutes} minutes.")

# A hash to verify against when the username is unknown, so both cases take as long.
_DUMMY_HASH = operators.hash_password("not-a-real-password-dolbom")


@dataclass
class SignIn:
    """The outcome of one sign-in attempt: a session token, or an error msgid with params."""

    operator: Operator | None = None
    token: str | None = None
    csrf_token: str | None = None
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.token is not None


def token_id(token: str) -> str:
    """Return the stored id of a session token (its SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """Return a fresh random token (session id, CSRF token)."""
    return secrets.token_urlsafe(32)


def _wait_seconds(failures: int) -> int:
    return FIRST_WAIT_SECONDS * 2 ** (failures - FREE_FAILURES - 1)


async def sign_in(session: AsyncSession, *, username: str, password: str, ip: str | None) -> SignIn:
    """Check the password and open a session; return a SignIn (commit it even on failure)."""
    now = clock.now()
    operator = await operators.get_by_username(session, username=username)
    if operator is None or not operator.active:
        operators.verify_password(_DUMMY_HASH, password)
        await audit.record(session, action="signin_failed", username=username.strip()[:100], ip=ip)
        return SignIn(error=MSG_WRONG)
    if operator.locked_until is not None and operator.locked_until > now:
        left = operator.locked_until - now
        await audit.record(session, action="signin_refused", operator_id=operator.id, username=operator.username, ip=ip)
        if operator.failed_logins >= LOCK_AFTER:
            return SignIn(error=MSG_LOCKED, params={"minutes": max(1, -(-int(left.total_seconds()) // 60))})
        return SignIn(error=MSG_WAIT, params={"seconds": max(1, int(left.total_seconds() + 0.999))})
    if not operators.verify_password(operator.password_hash, password):
        operator.failed_logins += 1
        await audit.record(session, action="signin_failed", operator_id=operator.id, username=operator.username, ip=ip)
        if operator.failed_logins >= LOCK_AFTER:
            operator.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            await audit.record(
                session,
                action="account_locked",
                operator_id=operator.id,
                username=operator.username,
                ip=ip,
                detail=f"{operator.failed_logins} failures",
            )
            session.add(operator)
            await session.flush()
            return SignIn(error=MSG_LOCKED, params={"minutes": LOCK_MINUTES})
        if operator.failed_logins > FREE_FAILURES:
            operator.locked_until = now + timedelta(seconds=_wait_seconds(operator.failed_logins))
        session.add(operator)
        await session.flush()
        return SignIn(error=MSG_WRONG)
    operator.failed_logins = 0
    operator.locked_until = None
    operator.last_login_at = now
    session.add(operator)
    token, csrf = new_token(), new_token()
    assert operator.id is not None
    session.add(
        OperatorSession(
            id=token_id(token), operator_id=operator.id, csrf_token=csrf, ip=ip, created_at=now, last_seen_at=now
        )
    )
    await audit.record(session, action="signin", operator_id=operator.id, username=operator.username, ip=ip)
    await session.flush()
    return SignIn(operator=operator, token=token, csrf_token=csrf)


async def get_session(
    session: AsyncSession, *, token: str, idle_minutes: int, touch: bool = True
) -> tuple[OperatorSession, Operator] | None:
    """Return the live session and its operator for a token, or None (unknown, ended, idle, inactive)."""
    if not token:
        return None
    row = await session.get(OperatorSession, token_id(token))
    if row is None or row.revoked_at is not None:
        return None
    now = clock.now()
    if now - row.last_seen_at > timedelta(minutes=idle_minutes):
        row.revoked_at = now
        session.add(row)
        await session.flush()
        return None
    operator = await session.get(Operator, row.operator_id)
    if operator is None or not operator.active:
        return None
    # Write at most once a minute: every page would otherwise be a write.
    if touch and now - row.last_seen_at > timedelta(seconds=60):
        row.last_seen_at = now
        session.add(row)
        await session.flush()
    return row, operator


async def sign_out(session: AsyncSession, *, token: str, ip: str | None) -> None:
    """End the session of a token on the server and log it."""
    row = await session.get(OperatorSession, token_id(token))
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = clock.now()
    session.add(row)
    operator = await session.get(Operator, row.operator_id)
    await audit.record(
        session,
        action="signout",
        operator_id=row.operator_id,
        username=operator.username if operator else None,
        ip=ip,
    )
    await session.flush()


async def end_sessions(session: AsyncSession, *, operator_id: int, at: datetime | None = None) -> None:
    """End every session of an operator (after a role change or deactivation)."""
    await session.execute(
        update(OperatorSession)
        .where(col(OperatorSession.operator_id) == operator_id, col(OperatorSession.revoked_at).is_(None))
        .values(revoked_at=at or clock.now())
    )


WRITER_ROLES = ("admin", "operator")


@dataclass(frozen=True)
class Access:
    """Who is looking, from where, and which district they may see (None = every district).

    Every care service that reads or writes personal data takes one: it checks the district
    (`sees`, `check_district`) and the role (`check_writer`, `check_admin`) and writes the
    access log (`log`), so a route cannot forget either.
    """

    operator_id: int | None
    username: str | None
    ip: str | None
    district_id: int | None
    role: str = "viewer"

    def sees(self, district_id: int | None) -> bool:
        """Return True when this operator may see a thing of that district."""
        return self.district_id is None or self.district_id == district_id

    @property
    def can_write(self) -> bool:
        """Return True when this operator may change things (viewers change nothing)."""
        return self.role in WRITER_ROLES

    def check_writer(self) -> None:
        """Raise PermissionDenied unless this operator may change things."""
        if not self.can_write:
            raise PermissionDenied()

    def check_admin(self) -> None:
        """Raise PermissionDenied unless this operator is an admin (of their district, or of all)."""
        if self.role != "admin":
            raise PermissionDenied()

    async def log(
        self,
        session: AsyncSession,
        *,
        action: str,
        resident_id: int | None = None,
        resident_ids: list[int] | None = None,
        detail: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Write one access-log row for this operator (resident_ids: everyone a list showed)."""
        await audit.record(
            session,
            action=action,
            operator_id=self.operator_id,
            username=self.username,
            ip=self.ip,
            resident_id=resident_id,
            resident_ids=resident_ids,
            detail=detail,
            reason=reason,
        )


async def list_access_log(
    session: AsyncSession,
    *,
    access: Access,
    username: str | None = None,
    action: str | None = None,
    resident_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = 200,
) -> list[AccessLog]:
    """Return access-log rows matching the filters, newest first (district-bound admins see their operators)."""
    q = select(AccessLog).order_by(col(AccessLog.id).desc())
    if username:
        q = q.where(col(AccessLog.username) == username.strip())
    if action:
        q = q.where(col(AccessLog.action) == action)
    if resident_id is not None:
        q = q.where(col(AccessLog.resident_id) == resident_id)
    if since is not None:
        q = q.where(col(AccessLog.at) >= since)
    if until is not None:
        q = q.where(col(AccessLog.at) < until)
    if access.district_id is not None:
        mine = select(col(Operator.id)).where(col(Operator.district_id) == access.district_id)
        q = q.where(col(AccessLog.operator_id).in_(mine))
    if limit is not None:
        q = q.limit(limit)
    return list((await session.execute(q)).scalars())
