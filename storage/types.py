"""Column types shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel.sql.sqltypes import AutoString

# The one detector; a pure function with no storage import (decision 0008).
from care import registration_numbers


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every engine.

    SQLite keeps no zone, so values are stored as naive UTC there and made aware
    again on the way out; a naive value on the way in is a bug and is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC datetimes")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class NoRegistrationNumber(TypeDecorator[Any]):
    """A text or JSON column that refuses a resident registration number (주민등록번호).

    Every String/Text/JSON column of storage.models is wrapped in this at import
    (`guard_free_text`), so ORM flushes, Core `insert/update(...).values(...)` and bulk
    writes all pass the one detector (care.registration_numbers) before anything reaches
    the database. A refused value raises RegistrationNumberRefused (the engine's handle_error
    hook in storage.db unwraps SQLAlchemy's StatementError so callers see the AppError).
    """

    impl = String
    cache_ok = True

    def __init__(self, inner: TypeEngine[Any]) -> None:
        super().__init__()
        self.inner = inner
        self.impl = inner  # type: ignore[assignment]

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is not None:
            registration_numbers.refuse_in(value)
        return value

    def copy(self, **kw: Any) -> NoRegistrationNumber:
        return NoRegistrationNumber(self.inner)


def is_text_type(type_: TypeEngine[Any]) -> bool:
    """True for a column type that holds text or JSON (through any TypeDecorator)."""
    seen = type_
    while isinstance(seen, TypeDecorator):
        if isinstance(seen, NoRegistrationNumber):
            return True
        seen = seen.impl_instance
    return isinstance(seen, (String, JSON))


def guard_free_text(metadata: MetaData, *, exempt: dict[tuple[str, str], str]) -> None:
    """Wrap every text/JSON column of metadata in NoRegistrationNumber, except the exempt ones."""
    for table in metadata.tables.values():
        for column in table.columns:
            if (table.name, column.name) in exempt or isinstance(column.type, NoRegistrationNumber):
                continue
            if is_text_type(column.type):
                inner = column.type
                if isinstance(inner, AutoString):
                    # AutoString only picks a length for MySQL; a plain String is the same here.
                    inner = String(getattr(inner.impl_instance, "length", None))
                column.type = NoRegistrationNumber(inner)
