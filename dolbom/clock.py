"""The one clock: aware UTC now, Asia/Seoul for what people see.

Tests move time with `clock.freeze(...)` instead of patching datetime.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dolbom.settings import get_settings

_frozen: datetime | None = None


def now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC)


def zone() -> ZoneInfo:
    """Return the display and scheduling zone (Asia/Seoul by default)."""
    return ZoneInfo(get_settings().timezone)


def local_now() -> datetime:
    """Return now in the display zone."""
    return now().astimezone(zone())


def today() -> date:
    """Return today's date in the display zone."""
    return local_now().date()


def set_now(moment: datetime | None) -> None:
    """Freeze the clock at an aware moment, or unfreeze it with None."""
    global _frozen
    if moment is not None and moment.tzinfo is None:
        raise ValueError("the clock takes aware datetimes only")
    _frozen = moment.astimezone(UTC) if moment is not None else None


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward and return the new now."""
    if _frozen is None:
        raise RuntimeError("advance() needs a frozen clock")
    set_now(_frozen + delta)
    return now()


@contextmanager
def freeze(moment: datetime) -> Iterator[None]:
    """Freeze the clock for the duration of a with-block."""
    previous = _frozen
    set_now(moment)
    try:
        yield
    finally:
        set_now(previous)
