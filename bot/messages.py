"""What flows exchange with channels: channel-neutral incoming events and replies.

Telegram, the web chat and (later) KakaoTalk adapters turn their updates into
`Incoming` and render `Reply`; the flows never see a channel's own types.
The outbox stores buttons in the same shape: [[{"text": ..., "data": ...}, ...], ...].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["command", "text", "callback", "contact", "unsupported", "edited"]


@dataclass(frozen=True)
class Button:
    text: str
    data: str


@dataclass(frozen=True)
class DeskOperator:
    """The signed-in desk operator typing in the web chat on someone's behalf (a tool of the desk)."""

    operator_id: int
    username: str
    name: str
    role: str
    district_id: int | None  # None: an admin of every district (the first district is used)
    ip: str | None = None


@dataclass(frozen=True)
class Incoming:
    channel: str  # telegram | webchat | ...
    user_key: str  # the channel's user id as text
    kind: Kind
    text: str | None = None  # typed text, command argument, or shared phone number
    data: str | None = None  # callback data of a pressed button
    language: str | None = None  # the person's language code as the channel reports it
    message_id: str | None = None  # the channel's id of the message (edits refer to it)
    display_name: str | None = None
    desk: DeskOperator | None = None  # set only by the web chat, from the console's session
    # Who sent it, as the channel vouches (Telegram: from_user.id), and for a shared contact the
    # account the contact belongs to (Telegram: contact.user_id). care.identity compares them:
    # only a person's own contact verifies a phone.
    sender_id: str | None = None
    contact_user_id: str | None = None

    def __post_init__(self) -> None:
        # Every channel's text enters here: control characters and lone surrogates are no one's words,
        # and PostgreSQL refuses NUL in text, so they never reach a flow or the store.
        for name in ("text", "data", "display_name"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, clean_text(value))


_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Return the text without control characters (except line breaks and tabs) and lone surrogates."""
    return _UNWANTED.sub("", value)


@dataclass
class Reply:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    # Ask for the phone number with the channel's share-contact button (Telegram: request_contact).
    contact_button: str | None = None
    remove_keyboard: bool = False

    def buttons_json(self) -> list[list[dict[str, Any]]] | None:
        """Return the buttons in the outbox's JSON shape (None when there are none)."""
        if not self.buttons:
            return None
        return [[{"text": b.text, "data": b.data} for b in row] for row in self.buttons]
