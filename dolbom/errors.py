"""The one error tree of dolbom.

Errors carry an English msgid and named params; the edges (the bot's error
router, the console's exception handlers) translate them to Korean. Nothing
below the edges formats a message for a person.

    AppError
    ├── InvalidInput                  what a person typed cannot be used
    │   └── RegistrationNumberRefused a resident registration number was typed
    ├── NotFound                      no such thing (or not visible to the caller)
    ├── PermissionDenied              the caller may not do this
    ├── ConflictError                 someone changed it since it was read
    ├── DuplicateError                a unique thing exists already
    └── RuleViolation                 the desk's rules forbid it
        ├── InvalidTransition         the order lifecycle forbids this step
        ├── ReasonRequired            this step needs a reason
        ├── CapExceeded               a per-person cap or the annual limit
        └── NoProviderAvailable       no provider fits the order
"""

from __future__ import annotations

from typing import Any

from dolbom.i18n import N_


class AppError(Exception):
    """Base of every error dolbom raises on purpose."""

    msgid: str = N_("Something went wrong. Please try again.")

    def __init__(self, msgid: str | None = None, **params: Any) -> None:
        if msgid is not None:
            self.msgid = msgid
        self.params = params
        super().__init__(self.msgid.format(**params) if params else self.msgid)


class InvalidInput(AppError):
    msgid = N_("That answer could not be understood.")


class RegistrationNumberRefused(InvalidInput):
    msgid = N_("Please do not send a resident registration number. We do not collect it, and nothing of it was saved.")


class NotFound(AppError):
    msgid = N_("It could not be found.")


class PermissionDenied(AppError):
    msgid = N_("You do not have permission to do this.")


class ConflictError(AppError):
    msgid = N_("Someone else changed this just now. Please check the latest state and try again.")


class DuplicateError(AppError):
    msgid = N_("It exists already.")


class RuleViolation(AppError):
    msgid = N_("The desk's rules do not allow this.")


class InvalidTransition(RuleViolation):
    msgid = N_("An order that is '{from_status}' cannot become '{to_status}'.")

    def __init__(self, *, from_status: str, to_status: str) -> None:
        self.from_status = from_status
        self.to_status = to_status
        super().__init__(from_status=from_status, to_status=to_status)


class ReasonRequired(RuleViolation):
    msgid = N_("Please write a reason for this step.")


class CapExceeded(RuleViolation):
    msgid = N_("This is over the limit: {detail}")


class NoProviderAvailable(RuleViolation):
    msgid = N_("No provider fits this order: {reason}")
