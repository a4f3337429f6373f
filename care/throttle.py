"""Growing delays after failed sign-ins, per client address and per account (decision 0010).

No hard lock: each counter only makes its next attempt wait, 1 s, 2 s, 4 s, ... up to a cap,
and the counters forget after a quiet spell. Three kinds of counter:

- ``ip``: one client address, whatever username it types. Stops one machine guessing.
- ``user``: one typed username (as a SHA-256, so unknown names behave exactly like real
  ones and nothing typed is stored), from browsers the account has never signed in from.
  Stops many machines guessing one account.
- ``device``: one browser that this account signed in from before (it holds a signed
  cookie, see care.auth). Its attempts count only here, so no stranger's failures, from
  any address, ever slow the owner's own browser; and its cap is short.

An attempt claims its counters before the password is checked, with a guarded UPDATE,
as if it were going to fail: twenty parallel guesses cannot all pass one open slot. A
success gives the claim back (``settle``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import SignInThrottle


@dataclass(frozen=True)
class Policy:
    """How many failures are free, how far the delay may grow, and when the counter forgets."""

    free: int
    cap_seconds: int
    forget_after: timedelta

    def delay(self, failures: int) -> int:
        """Return the seconds the next attempt must wait after this many failures."""
        if failures <= self.free:
            return 0
        return int(min(self.cap_seconds, 2 ** (failures - self.free - 1)))


POLICIES = {
    # A desk office may share one address: a few typos by several people cost nothing.
    "ip": Policy(free=10, cap_seconds=15 * 60, forget_after=timedelta(hours=1)),
    # Untrusted browsers against one account: ~100 guesses a day at most once it has grown.
    "user": Policy(free=3, cap_seconds=15 * 60, forget_after=timedelta(hours=24)),
    # The owner's own browser: only its own typos slow it, and never by more than a minute.
    "device": Policy(free=5, cap_seconds=60, forget_after=timedelta(hours=1)),
}
# Rows quiet for longer than the longest forget_after are removed as attempts come in.
_PURGE_AFTER = timedelta(hours=24)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def ip_key(ip: str | None) -> str:
    return f"ip:{ip or '-'}"


def user_key(username: str) -> str:
    return f"user:{_digest(username.strip())}"


def device_key(device_id: str) -> str:
    return f"device:{_digest(device_id)}"


def kind_of(key: str) -> str:
    return key.split(":", 1)[0]


class Raced(Exception):
    """Another attempt changed the same counter meanwhile: read again."""


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming counters: allowed, or the seconds to wait and which counter said so."""

    wait_seconds: int = 0
    blocked_by: str | None = None
    # Counters that this attempt's failure makes wait (kind, failures, seconds), for the log.
    slowed: tuple[tuple[str, int, int], ...] = ()

    @property
    def allowed(self) -> bool:
        return self.wait_seconds == 0


def _seen(row: SignInThrottle | None, now: datetime, policy: Policy) -> int:
    if row is None or row.last_failure_at is None or now - row.last_failure_at > policy.forget_after:
        return 0
    return row.failures


async def claim(session: AsyncSession, *, keys: list[str], now: datetime) -> Claim:
    """Return whether an attempt on these counters may go ahead now; if so count it as a failure.

    Raises Raced when another attempt claimed a counter between our read and our write
    (the caller rolls back and asks again).
    """
    await session.execute(delete(SignInThrottle).where(col(SignInThrottle.last_failure_at) < now - _PURGE_AFTER))
    rows: dict[str, SignInThrottle | None] = {}
    wait, blocked_by = 0, None
    for key in keys:
        row = await session.get(SignInThrottle, key, populate_existing=True)
        rows[key] = row
        if row is not None and row.next_allowed_at is not None and row.next_allowed_at > now:
            left = math.ceil((row.next_allowed_at - now).total_seconds())
            if left > wait:
                wait, blocked_by = left, kind_of(key)
    if wait:
        return Claim(wait_seconds=wait, blocked_by=blocked_by)
    slowed = []
    for key, row in rows.items():
        policy = POLICIES[kind_of(key)]
        failures = _seen(row, now, policy) + 1
        seconds = policy.delay(failures)
        if seconds:
            slowed.append((kind_of(key), failures, seconds))
        next_allowed = now + timedelta(seconds=seconds)
        if row is None:
            try:
                async with session.begin_nested():
                    session.add(
                        SignInThrottle(key=key, failures=failures, last_failure_at=now, next_allowed_at=next_allowed)
                    )
                    await session.flush()
            except IntegrityError as err:
                raise Raced() from err
            continue
        # Guarded: only if nobody counted an attempt since we read the row.
        result = await session.execute(
            update(SignInThrottle)
            .where(
                col(SignInThrottle.key) == key,
                col(SignInThrottle.failures) == row.failures,
                or_(col(SignInThrottle.next_allowed_at).is_(None), col(SignInThrottle.next_allowed_at) <= now),
            )
            .values(failures=failures, last_failure_at=now, next_allowed_at=next_allowed)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Raced()
    return Claim(slowed=tuple(slowed))


async def settle(session: AsyncSession, *, keys: list[str], username: str) -> None:
    """After a right password: give back this attempt's claim and forget the account's failures."""
    for key in keys:
        if kind_of(key) == "ip":
            # The address keeps the failures it made (signing in to one's own account must
            # not wipe the guesses made at others), minus the one this success had claimed.
            await session.execute(
                update(SignInThrottle)
                .where(col(SignInThrottle.key) == key, col(SignInThrottle.failures) > 0)
                .values(failures=SignInThrottle.failures - 1, next_allowed_at=None)  # type: ignore[operator]
                .execution_options(synchronize_session=False)
            )
    # The owner proved who they are: the account's counter and this browser's start afresh.
    forget = [user_key(username), *(k for k in keys if kind_of(k) == "device")]
    await session.execute(
        delete(SignInThrottle).where(col(SignInThrottle.key).in_(forget)).execution_options(synchronize_session=False)
    )


async def clear_account(session: AsyncSession, *, username: str) -> None:
    """Forget the failures counted against a username (an admin's 'let them try again now')."""
    await session.execute(
        delete(SignInThrottle)
        .where(col(SignInThrottle.key) == user_key(username))
        .execution_options(synchronize_session=False)
    )


async def is_slowed(session: AsyncSession, *, username: str, now: datetime) -> bool:
    """Return True when attempts on this username from new browsers must wait right now."""
    row = await session.get(SignInThrottle, user_key(username))
    return row is not None and row.next_allowed_at is not None and row.next_allowed_at > now
