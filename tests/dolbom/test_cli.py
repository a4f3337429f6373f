"""The `dolbom` command as other tools use it: real processes on a throwaway database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import pg_url
from tests.e2e.support import free_port


def env_for(db_file: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOLBOM_")}
    env["DOLBOM_DATABASE_URL"] = f"sqlite+aiosqlite:///{db_file}"
    env.update(extra)
    return env


def dolbom(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dolbom", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_migrate_twice_is_idempotent(tmp_path: Path) -> None:
    env = env_for(tmp_path / "d.db")
    first, second = dolbom("migrate", env=env), dolbom("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    with sqlite3.connect(tmp_path / "d.db") as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_operator_add_stores_an_argon2id_hash_and_refuses_a_duplicate(tmp_path: Path) -> None:
    env = env_for(tmp_path / "d.db")
    added = dolbom("operator", "add", "--username", "kim", "--password", "long-enough-pw", "--role", "admin", env=env)
    assert added.returncode == 0, added.stderr
    with sqlite3.connect(tmp_path / "d.db") as conn:
        (stored,) = conn.execute("SELECT password_hash FROM operators WHERE username='kim'").fetchone()
    assert stored.startswith("$argon2id$") and "long-enough-pw" not in stored
    again = dolbom("operator", "add", "--username", "kim", "--password", "long-enough-pw", "--role", "admin", env=env)
    assert again.returncode == 1
    assert "이미 있습니다" in again.stderr and "Traceback" not in again.stderr


def test_operator_add_with_a_short_password_says_why_in_korean(tmp_path: Path) -> None:
    result = dolbom(
        "operator",
        "add",
        "--username",
        "lee",
        "--password",
        "short",
        "--role",
        "viewer",
        env=env_for(tmp_path / "d.db"),
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "10자" in result.stderr


def test_operator_add_refuses_a_common_password_in_korean(tmp_path: Path) -> None:
    env = env_for(tmp_path / "d.db")
    result = dolbom("operator", "add", "--username", "lee", "--password", "Password2024!", "--role", "viewer", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "쉽게 알아낼 수 있습니다" in result.stderr


def test_backup_on_postgresql_explains_pg_dump() -> None:
    url = pg_url()
    if url is None:
        pytest.skip("PostgreSQL pass only")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOLBOM_")}
    env["DOLBOM_DATABASE_URL"] = url
    result = dolbom("backup", "/tmp/never-written.dump", env=env)
    assert result.returncode == 2
    assert "pg_dump" in result.stderr and not Path("/tmp/never-written.dump").exists()


@pytest.mark.e2e
def test_serve_answers_healthz_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = env_for(tmp_path / "d.db", DOLBOM_CONSOLE_PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dolbom", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=15)
        assert code == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read() if proc.stdout else ""
    assert "dolbom stopped" in output and "Traceback" not in output
