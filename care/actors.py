"""Who did something, and through which channel: written into every history row."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    kind: str  # operator | resident | family | care_manager | provider | system
    id: int | None = None
    name: str | None = None
    channel: str | None = None  # console | telegram | webchat | phone | jobs | cli


SYSTEM = Actor(kind="system", name="system", channel="jobs")
