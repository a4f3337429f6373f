"""Console sign-in: argon2id passwords off the event loop, growing delays, server-side sessions.

Every sign-in, failure, throttled attempt and sign-out is written to the access log. Session
tokens are random; the table keeps only their SHA-256, so a copy of the database does not
let anyone in. How failures slow further attempts without ever locking the owner out is in
care/throttle.py and decision 0010.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import operators, registration_numbers, throttle
from dolbom import clock
from dolbom.errors import PermissionDenied, RegistrationNumberRefused
from dolbom.i18n import N_
from storage import audit
from storage.db import Database
from storage.models import AccessLog, Operator, OperatorSession

log = logging.getLogger("dolbom.signin")

MSG_WRONG = N_("The username or password is not right.")
MSG_WAIT = N_("Too many failed attempts. Please wait {seconds} seconds and try again.")
MSG_WAIT_MINUTES = N_("Too many failed attempts. Please wait {minutes} minutes and try again.")

# A browser that signed in stays "known" to that account this long (its cookie's lifetime).
DEVICE_DAYS = 180
_RACE_RETRIES = 4

# A hash to verify against when the username is unknown, so both cases take as long.


@functools.cache
def _dummy_hash() -> str:
    # Made on the first sign-in, not at import: argon2 costs ~0.6 s that the bot's restart need not wait for.
    return operators.hash_password("not-a-real-password-dolbom")


@dataclass
class SignIn:
    """The outcome of one sign-in attempt: a session token, or an error msgid with params."""

    operator: Operator | None = None
    token: str | None = None
    csrf_token: str | None = None
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # (cookie name, value) marking this browser as known to the account; set on success.
    device_cookie: tuple[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.token is not None


def token_id(token: str) -> str:
    """Return the stored id of a session token (its SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """Return a fresh random token (session id, CSRF token)."""
    return secrets.token_urlsafe(32)


# ------------------------------------------------------------------ known browsers


def device_cookie_name(username: str) -> str:
    """Return the cookie name that marks a browser known to this username (a hash: no name in it)."""
    return "dolbom_device_" + hashlib.sha256(username.strip().encode()).hexdigest()[:16]


def _device_mac(secret: str, username: str, nonce: str, day: int) -> str:
    message = f"device|{username.strip()}|{nonce}|{day}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def issue_device(*, secret: str, username: str, now: datetime) -> str:
    """Return a signed cookie value saying "this browser signed in as username on this day"."""
    nonce = secrets.token_urlsafe(16)
    day = int(now.timestamp() // 86400)
    return f"{nonce}.{day}.{_device_mac(secret, username, nonce, day)}"


def known_device(*, secret: str, username: str, value: str | None, now: datetime) -> str | None:
    """Return the browser's id when the cookie is ours, for this username and not too old; else None."""
    if not value or value.count(".") != 2:
        return None
    nonce, day_text, mac = value.split(".")
    try:
        day = int(day_text)
    except ValueError:
        return None
    if not hmac.compare_digest(mac, _device_mac(secret, username, nonce, day)):
        return None
    if not 0 <= int(now.timestamp() // 86400) - day <= DEVICE_DAYS:
        return None
    return nonce


# ------------------------------------------------------------------ sign-in


def loggable_username(username: str) -> str | None:
    """Return the typed username as it may be logged: None when it looks like a registration number."""
    typed = username.strip()[:100]
    return None if registration_numbers.contains(typed) else typed


def _wait_error(seconds: int) -> SignIn:
    if seconds > 90:
        return SignIn(error=MSG_WAIT_MINUTES, params={"minutes": math.ceil(seconds / 60)})
    return SignIn(error=MSG_WAIT, params={"seconds": max(1, seconds)})


async def sign_in(
    database: Database,
    *,
    username: str,
    password: str,
    ip: str | None,
    secret: str,
    device: str | None = None,
) -> SignIn:
    """Check the password (in a worker thread) and open a session; return a SignIn.

    Commits on its own, in short transactions around the password check: argon2 takes tens
    of milliseconds, and no lock may be held (nor the event loop blocked) meanwhile.
    `device` is the browser's known-device cookie for this username, if it sent one.
    """
    now = clock.now()
    if registration_numbers.contains(username):
        # Checked before the name is looked up, throttled or logged: the failure is recorded without it.
        async with database.transaction() as session:
            await audit.record(session, action="signin_failed", username=registration_numbers.REDACTED, ip=ip)
        return SignIn(error=RegistrationNumberRefused.msgid)
    typed = loggable_username(username)
    shown = typed if typed is not None else "(withheld: looks like a registration number)"
    device_id = known_device(secret=secret, username=username, value=device, now=now)
    if device_id is not None:
        keys = [throttle.device_key(device_id)]
    else:
        keys = [throttle.ip_key(ip), throttle.user_key(username)]

    claim = throttle.Claim(wait_seconds=1, blocked_by="race")
    operator: Operator | None = None
    for _ in range(_RACE_RETRIES):
        try:
            async with database.transaction() as session:
                claim = await throttle.claim(session, keys=keys, now=now)
                if claim.allowed:
                    operator = await operators.get_by_username(session, username=username)
            break
        except throttle.Raced:
            continue
    if not claim.allowed:
        async with database.transaction() as session:
            await audit.record(
                session,
                action="signin_throttled",
                username=typed,
                ip=ip,
                detail=f"{claim.blocked_by} counter: wait {claim.wait_seconds} s",
            )
        log.warning(
            "sign-in throttled: %s from %s, %s counter, wait %s s", shown, ip, claim.blocked_by, claim.wait_seconds
        )
        return _wait_error(claim.wait_seconds)

    usable = operator is not None and operator.active
    password_hash = operator.password_hash if operator is not None and usable else await operators.off_loop(_dummy_hash)
    # Off the event loop: the bot, the jobs and every other page keep being served meanwhile.
    matches = await operators.check_password(password_hash, password)

    if not (matches and usable):
        slowed = ", ".join(f"{kind} counter {n} failures, next try in {sec} s" for kind, n, sec in claim.slowed)
        async with database.transaction() as session:
            await audit.record(
                session,
                action="signin_failed",
                operator_id=operator.id if operator is not None else None,
                username=typed,
                ip=ip,
                detail=slowed or None,
            )
        log.warning("sign-in failed: %s from %s%s", shown, ip, f" ({slowed})" if slowed else "")
        return SignIn(error=MSG_WRONG)

    assert operator is not None and operator.id is not None
    token, csrf = new_token(), new_token()
    async with database.transaction() as session:
        await throttle.settle(session, keys=keys, username=operator.username)
        await session.execute(update(Operator).where(col(Operator.id) == operator.id).values(last_login_at=now))
        operator.last_login_at = now
        session.add(
            OperatorSession(
                id=token_id(token), operator_id=operator.id, csrf_token=csrf, ip=ip, created_at=now, last_seen_at=now
            )
        )
        await audit.record(session, action="signin", operator_id=operator.id, username=operator.username, ip=ip)
    return SignIn(
        operator=operator,
        token=token,
        csrf_token=csrf,
        device_cookie=(
            device_cookie_name(operator.username),
            issue_device(secret=secret, username=operator.username, now=now),
        ),
    )


@functools.cache
def _session_statement() -> Any:
    # Built once: constructing the statement costs about as much Python as running it.
    return (
        select(OperatorSession, Operator)
        .outerjoin(Operator, col(Operator.id) == col(OperatorSession.operator_id))
        .where(col(OperatorSession.id) == bindparam("session_id"))
    )


async def get_session(
    session: AsyncSession, *, token: str, idle_minutes: int, touch: bool = True
) -> tuple[OperatorSession, Operator] | None:
    """Return the live session and its operator for a token, or None (unknown, ended, idle, inactive)."""
    if not token:
        return None
    # The session and its operator in one statement: this runs before every console request.
    found = (await session.execute(_session_statement(), {"session_id": token_id(token)})).first()
    if found is None:
        return None
    row, operator = found
    if row.revoked_at is not None:
        return None
    now = clock.now()
    if now - row.last_seen_at > timedelta(minutes=idle_minutes):
        row.revoked_at = now
        session.add(row)
        await session.flush()
        return None
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


async def end_sessions(
    session: AsyncSession, *, operator_id: int, at: datetime | None = None, keep_token: str | None = None
) -> None:
    """End every session of an operator (after a role change or deactivation), but the one of keep_token."""
    q = update(OperatorSession).where(
        col(OperatorSession.operator_id) == operator_id, col(OperatorSession.revoked_at).is_(None)
    )
    if keep_token:
        q = q.where(col(OperatorSession.id) != token_id(keep_token))
    await session.execute(q.values(revoked_at=at or clock.now()))


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
