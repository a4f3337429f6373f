"""`dolbom backup PATH`: a consistent copy of the SQLite store, taken while it runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from dolbom.errors import AppError
from dolbom.i18n import N_

PG_DUMP_HELP = N_(
    "This database is PostgreSQL: back it up with pg_dump, for example\n"
    "  pg_dump --format=custom --file={path} '{dsn}'\n"
    "and restore with pg_restore --clean --dbname=... {path}"
)


def sqlite_path(url: str) -> Path:
    """Return the file of an SQLite URL."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise AppError(N_("An in-memory database cannot be backed up."))
    return Path(database)


def backup_sqlite(url: str, target: Path) -> dict[str, int]:
    """Copy the database with SQLite's online backup API; return the row count per table."""
    source_path = sqlite_path(url)
    if not source_path.exists():
        raise AppError(N_("The database file does not exist: {path}"), path=str(source_path))
    target = target.expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    # The backup API copies page by page under SQLite's own locking: safe while `serve` writes.
    with sqlite3.connect(source_path) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return count_rows(target)


def count_rows(path: Path) -> dict[str, int]:
    """Return the row count of every table in an SQLite file."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA integrity_check")
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def pg_dump_command(url: str, target: Path) -> str:
    """Return how to back up a PostgreSQL database with pg_dump."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=True)
    return PG_DUMP_HELP.format(path=target, dsn=dsn)
