"""What a desk password must be (decision 0010); every place that sets one calls check().

At least 10 characters, not the username nor containing it, not a common password or a
common word dressed up with digits and symbols. Long passphrases pass; there is no rule of
"one capital, one digit" (NIST SP 800-63B: such rules make passwords worse, not better).
"""

from __future__ import annotations

import string
from functools import cache
from importlib import resources

from dolbom.errors import InvalidInput
from dolbom.i18n import N_

MIN_LENGTH = 10
# Above this argon2 still works, but nobody types it: it is a paste of something else.
MAX_LENGTH = 256

MSG_TOO_SHORT = N_("Please make the password at least {n} characters long. A short sentence is easy to remember.")
MSG_TOO_LONG = N_("Please make the password shorter than {n} characters.")
MSG_HAS_USERNAME = N_("Please do not put the username in the password.")
MSG_COMMON = N_("This password is too easy to guess. Please choose another one.")

_EDGES = string.digits + string.punctuation + " "


@cache
def common_passwords() -> frozenset[str]:
    """Return the built-in list of common passwords and the words they are built from (lower case)."""
    text = resources.files("care").joinpath("data/common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _is_common(password: str) -> bool:
    lowered = password.lower()
    words = common_passwords()
    if lowered in words or lowered.strip(_EDGES) in words:
        return True
    # "aaaaaaaaaa", "ababababab", "1212121212...": too few different characters to be a secret.
    return len(set(lowered)) < 4


def check(password: str, *, username: str) -> None:
    """Return None when the password may be used for this username; raise InvalidInput otherwise."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(MSG_TOO_SHORT, n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        raise InvalidInput(MSG_TOO_LONG, n=MAX_LENGTH)
    name = username.strip().lower()
    # A very short username ("an") would forbid half the language: only whole names count.
    if name and (password.lower() == name or (len(name) >= 3 and name in password.lower())):
        raise InvalidInput(MSG_HAS_USERNAME)
    if _is_common(password):
        raise InvalidInput(MSG_COMMON)
