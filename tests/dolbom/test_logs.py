"""Log records never carry a registration number; access lines never carry a query string."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from uvicorn.logging import AccessFormatter

from dolbom import logs
from tests.e2e.support import serving

TAIL = "2839465"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything logged anywhere while the test runs, formatted with tracebacks."""
    logs.install()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_a_number_in_the_message_or_its_arguments_is_replaced(captured: io.StringIO) -> None:
    log = logging.getLogger("dolbom.test")
    log.info("typed: 471208-2839465")
    log.info("typed: %s by %s", "４７１２０８－２８３９４６５", "김창구")
    log.warning("dict args %(v)s", {"v": "471208 2839465"})
    log.info("not a string arg: %r", ValueError("4 7 1 2 0 8 2 8 3 9 4 6 5"))
    text = captured.getvalue()
    assert TAIL not in text and "２８３９４６５" not in text
    assert text.count("[주민번호 삭제]") == 4
    assert "김창구" in text  # the rest of the record is kept


def test_a_traceback_of_a_crash_does_not_carry_the_number(captured: io.StringIO) -> None:
    try:
        int("주민번호 471208-2839465")
    except ValueError:
        logging.getLogger("console.app").exception("console error on %s %s", "POST", "/checkins/schedule/1")
    text = captured.getvalue()
    assert "Traceback" in text and "ValueError" in text
    assert TAIL not in text and "[주민번호 삭제]" in text


def test_a_percent_encoded_number_in_a_logged_url_is_replaced(captured: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: GET %s", "http://x.test/queue?q=471208%E2%88%922839465")
    logging.getLogger("httpx").info("HTTP Request: GET %s", "http://x.test/queue?q=471208+2839465&page=2")
    text = captured.getvalue()
    assert TAIL not in text and text.count("[주민번호 삭제]") == 2 and "page=2" in text


def test_phones_and_receipts_in_logs_are_left_alone(captured: io.StringIO) -> None:
    logging.getLogger("jobs").info("sent to 010-1234-5678 about 2611-04821")
    assert "010-1234-5678 about 2611-04821" in captured.getvalue()


def test_uvicorns_access_lines_carry_the_path_without_the_query() -> None:
    logs.install()
    app = FastAPI()

    @app.get("/residents")
    async def residents() -> dict[str, str]:
        return {"ok": "yes"}

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    with serving(app, "a bare app") as url:
        # After uvicorn configured its loggers (dictConfig) at start: the filter still applies.
        access = logging.getLogger("uvicorn.access")
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        try:
            for q in ("4712082839465", "박순자", "010-1234-5678"):
                assert httpx.get(f"{url}/residents", params={"q": q}).status_code == 200
        finally:
            access.removeHandler(handler)
    text = out.getvalue()
    assert text.count("GET /residents HTTP/1.1") == 3, text
    assert "?" not in text and TAIL not in text and "1234-5678" not in text
