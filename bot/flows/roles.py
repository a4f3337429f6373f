"""Joining with an invite code, and the home menu of bound accounts (care managers, provider staff).

"/start <code>" (the deep link t.me/<bot>?start=<code>) and a code typed at the menu bind the
account; a used, expired or unknown code is refused politely. A bound account's home is its
role's menu; when the console revokes the binding, the account is a resident again.
"""

from __future__ import annotations

from typing import Final

from bot.core import Answer, Ctx, Step, go_home, goto, home_hook, reset, start_hook, text_hook
from care import invites
from dolbom.errors import AppError
from dolbom.i18n import N_
from storage.models import ChannelBinding

CARE_MANAGER_HOME: Final = "cm"
PROVIDER_HOME: Final = "pv"
HOME_FLOWS: Final = frozenset({None, "", "home", CARE_MANAGER_HOME, PROVIDER_HOME})
MSG_JOINED: Final = N_("Welcome. This chat is now connected as: {who}")
MSG_UNBOUND: Final = N_("This chat is no longer connected to a care manager or provider account. Please ask the desk.")


async def binding_of(ctx: Ctx, role: str) -> ChannelBinding | None:
    """Return the person's active binding when it has this role, else None."""
    binding = await invites.get_binding(ctx.session, channel=ctx.channel, user_key=ctx.user_key)
    return binding if binding is not None and binding.role == role else None


def guarded(role: str, steps: dict[str, Step]) -> dict[str, Step]:
    """Return the steps so that each answer first checks the binding: a revoked account goes home as a resident."""

    def wrap(step: Step) -> Step:
        async def respond(ctx: Ctx, answer: Answer) -> str | None:
            if await binding_of(ctx, role) is None:
                ctx.say(MSG_UNBOUND)
                return None
            return await step.respond(ctx, answer)

        return Step(ask=step.ask, respond=respond, editable=step.editable)

    return {name: wrap(step) for name, step in steps.items()}


async def _join(ctx: Ctx, code: str) -> bool:
    try:
        binding = await invites.redeem(
            ctx.session,
            code=code,
            channel=ctx.channel,
            user_key=ctx.user_key,
            display_name=ctx.incoming.display_name,
        )
    except AppError as err:
        # The refusal is shown and the transaction still commits (the access log keeps unknown codes).
        reset(ctx)
        ctx.say(err.msgid)
        await go_home(ctx)
        return True
    reset(ctx)
    ctx.say(MSG_JOINED, who=await invites.describe(ctx.session, binding=binding))
    await goto(ctx, CARE_MANAGER_HOME if binding.role == "care_manager" else PROVIDER_HOME)
    return True


@start_hook
async def on_start_code(ctx: Ctx, argument: str) -> bool:
    """Handle "/start <invite code>"."""
    if not invites.looks_like_code(argument):
        return False
    return await _join(ctx, argument)


@text_hook
async def on_typed_code(ctx: Ctx, text: str) -> bool:
    """Handle an invite code typed at a menu (not in the middle of a question)."""
    if ctx.state.get("flow") not in HOME_FLOWS or not invites.looks_like_code(text):
        return False
    return await _join(ctx, text)


@home_hook
async def role_home(ctx: Ctx) -> bool:
    """Show a bound account its role's menu instead of the resident menu."""
    binding = await invites.get_binding(ctx.session, channel=ctx.channel, user_key=ctx.user_key)
    if binding is None:
        return False
    await goto(ctx, CARE_MANAGER_HOME if binding.role == "care_manager" else PROVIDER_HOME)
    return True
