"""The desk's conversations from the bot's side.

- "dr:<thread id>:<score>": the 1–5 answer to "how did it go?" after the desk resolved a conversation.
- The "ask_desk" flow: a care manager or provider picks one of their orders with a button, then
  writes; the message opens (or continues) an inbox conversation linked to that order.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import register
from bot.core import STAY, Answer, Ctx, Flow, Step, register_flow
from bot.messages import Button, Incoming, Reply
from care import inbox, labels
from dolbom.errors import AppError, InvalidInput
from dolbom.i18n import N_, gettext

FLOW: Final = "ask_desk"
MENU_ITEM: Final = ("ask_desk", N_("Ask the desk"))
MSG_INVALID: Final = N_("That button is no longer valid.")
MSG_PICK: Final = N_("Which request is it about? Please choose one.")
MSG_NONE: Final = N_("There is no request to ask about yet. Please call the desk.")
MSG_WRITE: Final = N_("Please write your question about {receipt_no} ({service}). The desk will answer here.")
MSG_SENT: Final = N_("Sent to the desk. The desk will answer here. You can keep writing.")


@register("dr")
async def on_rating(session: AsyncSession, incoming: Incoming, payload: str) -> list[Reply]:
    """Record the person's 1–5 answer about a resolved conversation and thank them."""
    thread_id, _, score = payload.partition(":")
    if not thread_id.isdigit() or not score.isdigit():
        return [Reply(gettext(MSG_INVALID, incoming.language))]
    try:
        await inbox.rate(
            session, thread_id=int(thread_id), score=int(score), channel=incoming.channel, user_key=incoming.user_key
        )
    except AppError:
        return [Reply(gettext(MSG_INVALID, incoming.language))]
    return [Reply(gettext(inbox.RATING_THANKS, incoming.language))]


async def _ask_pick(ctx: Ctx) -> None:
    orders = await inbox.orders_to_ask_about(ctx.session, channel=ctx.channel, user_key=ctx.user_key)
    if not orders:
        ctx.say(MSG_NONE)
        return
    buttons = [
        [
            ctx.raw_btn(
                f"{o.receipt_no} · {labels.label(labels.SERVICE, o.service_code, ctx.locale)}"
                f" · {labels.label(labels.STATUS, o.status, ctx.locale)}",
                f"o{o.id}",
            )
        ]
        for o in orders
    ]
    ctx.say(MSG_PICK, buttons)


async def _respond_pick(ctx: Ctx, answer: Answer) -> str | None:
    choice = answer.choice or ""
    if not choice.startswith("o") or not choice[1:].isdigit():
        raise InvalidInput(N_("Please choose one of the buttons below."))
    orders = await inbox.orders_to_ask_about(ctx.session, channel=ctx.channel, user_key=ctx.user_key)
    if int(choice[1:]) not in {o.id for o in orders}:
        raise InvalidInput(MSG_INVALID)
    ctx.a["order_id"] = int(choice[1:])
    return "write"


async def _ask_write(ctx: Ctx) -> None:
    orders = await inbox.orders_to_ask_about(ctx.session, channel=ctx.channel, user_key=ctx.user_key, limit=200)
    order = next((o for o in orders if o.id == ctx.a.get("order_id")), None)
    if order is None:
        ctx.say(MSG_INVALID)
        return
    ctx.say(
        MSG_WRITE, receipt_no=order.receipt_no, service=labels.label(labels.SERVICE, order.service_code, ctx.locale)
    )


async def _respond_write(ctx: Ctx, answer: Answer) -> str | None:
    if not answer.text:
        raise InvalidInput(N_("Please write your message."))
    await inbox.ask_about_order(
        ctx.session, channel=ctx.channel, user_key=ctx.user_key, order_id=int(ctx.a["order_id"]), text=answer.text
    )
    ctx.say(MSG_SENT, [[Button(text=ctx.t(N_("Back to the start")), data="g:home")]])
    return STAY


register_flow(
    Flow(
        name=FLOW,
        first="pick",
        steps={
            "pick": Step(ask=_ask_pick, respond=_respond_pick),
            "write": Step(ask=_ask_write, respond=_respond_write),
        },
    )
)
