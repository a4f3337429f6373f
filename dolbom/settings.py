"""All settings, from DOLBOM_* environment variables. Nothing else reads os.environ."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any, Literal

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOLBOM_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./dolbom.db"
    # Only the test suite reads this: the database the tests may wipe.
    test_database_url: str | None = None
    # Only the test suite reads this: how long the API fuzzing runs ("quick" in `make test`, "soak" in `make soak`).
    test_fuzz_profile: Literal["quick", "soak"] = "quick"

    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    webhook_secret: str | None = None
    # The public HTTPS URL Telegram posts to (ending in /telegram/webhook); set in webhook mode.
    webhook_url: str | None = None

    console_host: str = "127.0.0.1"
    console_port: int = 8000
    # The largest request body the console reads (a form or a JSON body is a few kB); bigger is a 413.
    max_body_bytes: int = 1024 * 1024
    secret_key: str = DEV_SECRET_KEY
    # dev allows the built-in secret key; anything else refuses it.
    env: Literal["dev", "production"] = "dev"

    timezone: str = "Asia/Seoul"

    # Addresses or networks of the reverse proxies in front of the console, comma-separated
    # ("10.0.0.5, 192.168.1.0/24"). Only a request arriving from one of them has its
    # X-Forwarded-For / X-Forwarded-Proto believed; empty = nobody's (decision 0010).
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()

    # Operational knobs with sensible defaults for one district.
    session_idle_minutes: int = 30
    assignment_deadline_hours: int = 4
    outbox_rate_per_second: float = 30.0
    retention_days: int = 5 * 365
    # Jobs (issue 6): check-in escalation steps, chasers, surveys, digest, outbox sender.
    checkin_reminder_minutes: int = 60
    checkin_missed_minutes: int = 120
    checkin_skip_holidays: bool = False
    intake_overdue_hours: int = 24
    survey_delay_hours: int = 24
    digest_at_minute: int = 8 * 60
    outbox_max_attempts: int = 8
    # Sends in flight at once; with the stand-in Bot API on loopback 1,000/s needs about 64.
    outbox_concurrency: int = 64
    # Connections each process keeps (pool size) and may open beyond it (overflow); a caller
    # waits up to pool_timeout seconds for one. The bot's inbox sizes its loops from these and
    # waits for a connection rather than failing; what waits stays in the inbound table.
    database_pool_size: int = 10
    database_max_overflow: int = 5
    database_pool_timeout: float = 30.0

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.replace(",", " ").split() if part]
        if isinstance(value, list | tuple):
            # strict=False: "10.0.0.5" is the /32 network of that one address.
            return tuple(ip_network(str(part).strip(), strict=False) for part in value)
        return value

    @model_validator(mode="after")
    def _refuse_dev_secret_outside_dev(self) -> Settings:
        if self.env != "dev" and self.secret_key == DEV_SECRET_KEY:
            raise ValueError("DOLBOM_SECRET_KEY must be set outside dev mode")
        if self.telegram_mode == "webhook" and self.telegram_token and not self.webhook_secret:
            raise ValueError("DOLBOM_WEBHOOK_SECRET is required in webhook mode")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
