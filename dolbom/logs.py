"""Logging that never carries a resident registration number, nor a query string in access lines.

`install()` puts one `RedactingFilter` in front of every log record of the process: it wraps
the log record factory, so the filter sees each record when it is made — whichever logger made
it (ours, uvicorn's, aiogram's, SQLAlchemy's), whichever handler will write it, including handlers
configured later (uvicorn configures its own with dictConfig when the server is built). A filter
on a handler would miss handlers added afterwards; a filter on a logger misses records that
propagate from its children.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Final
from urllib.parse import unquote_plus

from care import registration_numbers

ACCESS_LOGGER: Final = "uvicorn.access"

_installed = False


def scrub(text: str) -> str:
    """Return text with every registration number replaced, also one written percent-encoded in a URL."""
    cleaned = registration_numbers.redact(text)
    if "%" in text:
        decoded = unquote_plus(text)
        if decoded != text and registration_numbers.contains(decoded):
            return registration_numbers.redact(decoded)
    return cleaned


def _strip_query(path: Any) -> Any:
    if isinstance(path, str):
        return path.split("?", 1)[0]
    return path


class RedactingFilter(logging.Filter):
    """Replace registration numbers in message, args, exception and stack text; drop query strings."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) >= 3:
            # uvicorn: (client, method, full path with query, http version, status). A search or a
            # link can carry a name or a number in its query; the path alone says what was asked.
            args = list(record.args)
            args[2] = _strip_query(args[2])
            record.args = tuple(args)
        redact = scrub
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        if record.name != ACCESS_LOGGER:  # uvicorn's access formatter needs its args tuple
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is left for logging to report
                message = None
            if message is not None:
                cleaned = redact(message)
                if cleaned != message:  # the number was in an argument that is not a string
                    record.msg = cleaned
                    record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            # Formatters use exc_text when it is set; the exception itself is kept for type checks.
            record.exc_text = redact(text)
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install() -> None:
    """Put the RedactingFilter in front of every log record of this process (idempotent)."""
    global _installed
    if _installed:
        return
    redacting = RedactingFilter()
    make_record = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        redacting.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
