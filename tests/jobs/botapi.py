"""Moved: the one stand-in Bot API lives in tests/e2e/botapi.py (kept so older imports still work)."""

from tests.e2e.botapi import BAD_GATEWAY, BLOCKED, Received, StandIn, too_many

__all__ = ["BAD_GATEWAY", "BLOCKED", "Received", "StandIn", "too_many"]
