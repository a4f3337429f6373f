"""Schemathesis against /api/openapi.json: the served app on a thread, signed in as an operator, with CSRF.

Profile "quick" runs in `make test`; "soak" (DOLBOM_TEST_FUZZ_PROFILE=soak, `make soak`) runs the
same with many more cases. Criteria: no server error, every answer matches the schema that the
OpenAPI document gives for its status (body, status code, content type), and data that breaks
the schema is refused. The figures (operations, cases, failures) are printed and written to
tests/e2e/artifacts/api-fuzz-<profile>-<engine>.json.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from care import operators
from dolbom.runner import build_web_app
from dolbom.settings import Settings, get_settings
from storage.db import Database
from storage.models import Operator
from tests import factories
from tests.conftest import prepare
from tests.e2e.support import serving

ARTIFACTS = Path(__file__).resolve().parents[1] / "e2e" / "artifacts"
PASSWORD = "fuzz-operator-pass"
_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')
_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "unsupported_method",
    )
)
# (max examples per operation, phases, seconds the run may take at most)
PROFILES = {
    "quick": ("8", "examples,coverage,fuzzing", 90),
    "soak": ("150", "examples,coverage,fuzzing", 1800),
}


async def _seed(url: str) -> None:
    await prepare(url)
    database = Database(url)
    try:
        async with database.transaction() as s:
            mapo = await factories.make_district(s, name="마포구")
            other = await factories.make_district(s, name="은평구")
            await factories.make_provider(s, mapo, name="마포돌봄협동조합", is_lead=True)
            await factories.make_provider(s, mapo, name="한울사회적협동조합")
            for i in range(3):
                resident = await factories.make_resident(s, mapo, name=f"박순자{i}", phone=f"+82101234{i:04d}")
                await factories.make_order(s, resident, service_code="meals", units=10)
            stranger = await factories.make_resident(s, other, name="김말순", phone="+821098765432")
            await factories.make_order(s, stranger)
            s.add(
                Operator(
                    username="desk",
                    display_name="김상담",
                    role="operator",
                    password_hash=operators.hash_password(PASSWORD),
                    district_id=mapo.district_id,
                )
            )
    finally:
        await database.dispose()


def _sign_in(base: str) -> tuple[str, str]:
    """Return the session cookie and CSRF token of the operator."""
    with httpx.Client(base_url=base) as c:
        page = c.get("/login")
        match = _LOGIN.search(page.text)
        assert match, page.text[:300]
        r = c.post("/login", data={"username": "desk", "password": PASSWORD, "login_token": match.group(1)})
        assert r.status_code == 303, r.text[:300]
        meta = _META.search(c.get("/").text)
        assert meta
        return c.cookies["dolbom_session"], meta.group(1)


def test_schemathesis_finds_no_server_error_and_no_schema_lie(db_url: str, tmp_path: Path) -> None:
    profile = get_settings().test_fuzz_profile
    examples, phases, budget = PROFILES[profile]
    asyncio.run(_seed(db_url))
    app = build_web_app(database=Database(db_url), settings=Settings(session_idle_minutes=120))
    report = tmp_path / "report.json"
    started = time.monotonic()
    with serving(app, "the console") as base:
        cookie, token = _sign_in(base)
        cmd = [
            *(sys.executable, "-m", "schemathesis.cli", "run", f"{base}/api/openapi.json"),
            *("-H", f"Cookie: dolbom_session={cookie}", "-H", f"X-CSRF-Token: {token}"),
            *("--checks", CHECKS, "--phases", phases, "--max-examples", examples),
            *("--seed", "20261201", "--workers", "1", "--request-timeout", "30", "--wait-for-schema", "60"),
            "--no-shrink",
            *("--suppress-health-check", "all", "--warnings", "off"),
            *("--report", "json", "--report-json-path", str(report)),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget + 120, check=False)
        # The operator is still signed in afterwards: the run really tested the signed-in API.
        with httpx.Client(base_url=base, cookies={"dolbom_session": cookie}) as c:
            assert c.get("/api/orders").status_code == 200
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"api-fuzz-{profile}.txt").write_text(output)
    assert report.exists(), output[-6000:]
    data = json.loads(report.read_text())
    assert data.get("operations") and data.get("test_cases"), output[-6000:]  # the run really ran
    figures = _figures(data)
    figures.update(profile=profile, engine="sqlite" if db_url.startswith("sqlite") else "postgresql")
    figures["seconds"] = round(seconds, 1)
    (ARTIFACTS / f"api-fuzz-{profile}-{figures['engine']}.json").write_text(json.dumps(data, indent=1))
    print(f"\nschemathesis {profile} on {figures['engine']}: {figures}")
    assert proc.returncode == 0 and figures["failures"] == 0, output[-6000:]
    assert figures["operations"] >= 8 and figures["cases"] >= 8 * int(examples) // 2, figures


def _figures(data: dict) -> dict:  # type: ignore[type-arg]
    """Return operations, cases and failures (failing cases and errors) from Schemathesis' JSON report."""
    cases = data["test_cases"]
    return {
        "operations": data["operations"]["tested"],
        "cases": cases["generated"],
        "failures": cases["with_failures"] + cases["errored"] + len(data["failures"]) + len(data["errors"]),
        "schemathesis_seconds": round(data["running_time"], 1),
    }
