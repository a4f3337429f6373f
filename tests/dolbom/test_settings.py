from __future__ import annotations

import pytest
from pydantic import ValidationError

from dolbom.settings import DEV_SECRET_KEY, Settings


def test_defaults_match_the_design() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url == "sqlite+aiosqlite:///./dolbom.db"
    assert (s.console_host, s.console_port, s.timezone) == ("127.0.0.1", 8000, "Asia/Seoul")
    assert s.telegram_api_url == "https://api.telegram.org" and s.telegram_mode == "polling"


def test_the_built_in_secret_is_refused_outside_dev_mode() -> None:
    with pytest.raises(ValidationError):
        Settings(env="production", secret_key=DEV_SECRET_KEY)
    assert Settings(env="production", secret_key="a-real-secret").env == "production"


def test_webhook_mode_needs_a_secret() -> None:
    with pytest.raises(ValidationError):
        Settings(telegram_mode="webhook", telegram_token="1:x")


def test_settings_come_from_dolbom_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOLBOM_CONSOLE_PORT", "9123")
    monkeypatch.setenv("DOLBOM_TELEGRAM_API_URL", "http://127.0.0.1:8081")
    s = Settings()
    assert s.console_port == 9123 and s.telegram_api_url == "http://127.0.0.1:8081"


def test_trusted_proxies_default_to_none_and_take_addresses_and_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).trusted_proxies == ()  # type: ignore[call-arg]
    monkeypatch.setenv("DOLBOM_TRUSTED_PROXIES", "10.0.0.5, 192.168.1.0/24 ::1")
    assert [str(n) for n in Settings().trusted_proxies] == ["10.0.0.5/32", "192.168.1.0/24", "::1/128"]
    monkeypatch.setenv("DOLBOM_TRUSTED_PROXIES", "proxy.example")
    with pytest.raises(ValidationError):
        Settings()
