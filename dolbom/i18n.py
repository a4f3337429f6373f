"""Translations from the Babel catalogs in locales/ (domain `messages`).

msgids are English; Korean is the default locale. The .po files are read
directly with Babel, so a fresh checkout needs no compile step; `make messages`
extracts new msgids and merges them into the catalogs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
DEFAULT_LOCALE = "ko"
LOCALES = ("ko", "en")


@lru_cache(maxsize=8)
def catalog(locale: str) -> dict[str, str]:
    """Return msgid → translation for a locale (fuzzy and empty entries left out)."""
    path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        cat = read_po(fh, locale=locale)
    table: dict[str, str] = {}
    for message in cat:
        if not message.id or message.fuzzy or not message.string:
            continue
        if isinstance(message.id, tuple):
            continue
        table[str(message.id)] = str(message.string)
    return table


def normalize(locale: str | None) -> str:
    """Return a supported locale for a language code such as 'en-US' (Korean otherwise)."""
    if locale:
        short = locale.split("-")[0].split("_")[0].lower()
        if short in LOCALES:
            return short
    return DEFAULT_LOCALE


def gettext(msgid: str, locale: str | None = None, **params: Any) -> str:
    """Return the translation of msgid (English msgid itself as the last resort), formatted."""
    text = catalog(normalize(locale)).get(msgid, msgid)
    return text.format(**params) if params else text


_ = gettext


def N_(msgid: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a msgid for extraction without translating it yet."""
    return msgid


def reload() -> None:
    """Forget loaded catalogs (after editing a .po file)."""
    catalog.cache_clear()
