"""Desk operators: accounts, roles and password hashes (argon2id, hashed in a worker thread)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import passwords, throttle
from dolbom.errors import DuplicateError, InvalidInput, NotFound
from dolbom.i18n import N_
from storage.models import District, Operator

ROLES = ("admin", "operator", "viewer")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    """Return an argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Return True when the password matches the hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


T = TypeVar("T")

# argon2id holds a core (and 64 MiB) for tens of milliseconds per password: never on the loop
# that serves the bot and the jobs. Not asyncio.to_thread's shared pool either: its several
# workers would let a burst of sign-ins take every core from the loop (and starve other
# to_thread users). One worker: sign-ins queue a little, bot answers do not (decision 0010).
# And a lower CPU priority for it (and the lanes libargon2 starts from it, which inherit it):
# on a busy two-core machine the event loop gets the core the moment it has work.
PASSWORD_WORKER_NICE = 10


def _lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_WORKER_NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: the thread still keeps the loop free
        pass


_ARGON2 = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2", initializer=_lower_priority)


async def off_loop(fn: Callable[..., T], *args: object) -> T:
    """Return fn(*args) computed in the password worker thread (argon2 hashing and checking)."""
    return await asyncio.get_running_loop().run_in_executor(_ARGON2, fn, *args)


async def check_password(password_hash: str, password: str) -> bool:
    """Return True when the password matches the hash; the work is done off the event loop."""
    # Looked up at call time, so a test can record which thread does the work.
    return await off_loop(verify_password, password_hash, password)


async def _hash_off_loop(password: str) -> str:
    return await off_loop(hash_password, password)


MSG_WRONG_CURRENT = N_("The current password is not right.")
MSG_SAME_PASSWORD = N_("Please choose a password different from the current one.")


async def get_by_username(session: AsyncSession, *, username: str) -> Operator | None:
    """Return the operator with this username, or None."""
    result = await session.execute(select(Operator).where(col(Operator.username) == username.strip()))
    return result.scalar_one_or_none()


async def create(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: str,
    district_code: str | None = None,
    display_name: str | None = None,
    must_change_password: bool = False,
) -> Operator:
    """Create an operator (optionally bound to one district) and return it."""
    if role not in ROLES:
        raise InvalidInput(N_("Unknown role."))
    passwords.check(password, username=username)
    if await get_by_username(session, username=username) is not None:
        raise DuplicateError()
    district_id = None
    if district_code:
        district = (
            await session.execute(
                select(District).where((col(District.code) == district_code) | (col(District.name) == district_code))
            )
        ).scalar_one_or_none()
        if district is None:
            raise NotFound()
        district_id = district.id
    operator = Operator(
        username=username.strip(),
        display_name=display_name or username.strip(),
        password_hash=await _hash_off_loop(password),
        role=role,
        district_id=district_id,
        must_change_password=must_change_password,
    )
    session.add(operator)
    await session.flush()
    return operator


async def list_operators(session: AsyncSession, *, district_id: int | None = None) -> list[Operator]:
    """Return the operators (of one district and the unbound ones, when given), by username."""
    q = select(Operator).order_by(Operator.username)
    if district_id is not None:
        q = q.where((Operator.district_id == district_id) | (Operator.district_id.is_(None)))  # type: ignore[union-attr]
    return list((await session.execute(q)).scalars())


async def update(
    session: AsyncSession,
    *,
    operator_id: int,
    role: str,
    active: bool,
    unlock: bool = False,
    password: str | None = None,
    must_change_password: bool | None = None,
) -> Operator:
    """Change an operator's role, active flag, sign-in delay, password or forced change; return the operator."""
    if role not in ROLES:
        raise InvalidInput(N_("Unknown role."))
    operator = await session.get(Operator, operator_id)
    if operator is None:
        raise NotFound()
    operator.role = role
    operator.active = active
    if unlock:
        await throttle.clear_account(session, username=operator.username)
    if password:
        passwords.check(password, username=operator.username)
        operator.password_hash = await _hash_off_loop(password)
    if must_change_password is not None:
        operator.must_change_password = must_change_password
    session.add(operator)
    await session.flush()
    return operator


async def change_password(session: AsyncSession, *, operator_id: int, current: str, new: str) -> Operator:
    """Set an operator's own new password after checking the current one; return the operator."""
    operator = await session.get(Operator, operator_id)
    if operator is None:
        raise NotFound()
    if not await check_password(operator.password_hash, current):
        raise InvalidInput(MSG_WRONG_CURRENT)
    if new == current:
        raise InvalidInput(MSG_SAME_PASSWORD)
    passwords.check(new, username=operator.username)
    operator.password_hash = await _hash_off_loop(new)
    operator.must_change_password = False
    session.add(operator)
    await session.flush()
    return operator
