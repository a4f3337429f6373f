"""Desk operators: accounts, roles and password hashes (argon2id)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

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
) -> Operator:
    """Create an operator (optionally bound to one district) and return it."""
    if role not in ROLES:
        raise InvalidInput(N_("Unknown role."))
    if len(password) < 8:
        raise InvalidInput(N_("A password needs at least 8 characters."))
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
        password_hash=hash_password(password),
        role=role,
        district_id=district_id,
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
) -> Operator:
    """Change an operator's role, active flag, lock or password; return the operator."""
    if role not in ROLES:
        raise InvalidInput(N_("Unknown role."))
    operator = await session.get(Operator, operator_id)
    if operator is None:
        raise NotFound()
    operator.role = role
    operator.active = active
    if unlock:
        operator.failed_logins = 0
        operator.locked_until = None
    if password:
        if len(password) < 8:
            raise InvalidInput(N_("A password needs at least 8 characters."))
        operator.password_hash = hash_password(password)
    session.add(operator)
    await session.flush()
    return operator
