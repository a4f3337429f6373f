"""The resident chooses when the check-ins come: once in the morning, also in the evening, or also at night
(야간안전확인). Buttons only; the days and whom to alert stay as they are."""

from __future__ import annotations

from bot.core import Answer, Ctx, Flow, Step, register_flow
from bot.messages import Button
from care import checkins, identity
from dolbom.errors import InvalidInput
from dolbom.i18n import N_

# The buttons, in care.checkins.BOT_CHOICES' order.
CHOICES = [
    ("morning", N_("Once, in the morning (10 a.m.)")),
    ("twice", N_("Morning and evening (10 a.m., 7 p.m.)")),
    ("night", N_("Morning and a night safety check (10 a.m., 9 p.m.)")),
]
MENU_ENTRY = ("checkin_times", N_("Check-in times"))


async def _ask(ctx: Ctx) -> None:
    if await identity.verified_resident(ctx.session, channel=ctx.channel, user_key=ctx.user_key) is None:
        ctx.say(
            N_("You can choose the times once you get safety check-ins. Please choose 'Get safety check-ins' first."),
            [[Button(text=ctx.t(N_("Back to the start")), data="g:home")]],
        )
        return
    schedule = await checkins.get_own_schedule(ctx.session, channel=ctx.channel, user_key=ctx.user_key)
    buttons = [[ctx.btn(label, value)] for value, label in CHOICES]
    if schedule is not None and schedule.active:
        ctx.say(
            N_("Now we ask on {when}. When should we ask how you are?"),
            buttons,
            when=checkins.describe(schedule, ctx.locale),
        )
    else:
        ctx.say(N_("When should we ask how you are?"), buttons)


async def _respond(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice not in {v for v, _ in CHOICES}:
        raise InvalidInput(N_("Please choose one of the buttons below."))
    schedule = await checkins.choose_own_times(
        ctx.session, channel=ctx.channel, user_key=ctx.user_key, choice=answer.choice
    )
    ctx.say(
        N_("Done. We will ask how you are on {when}. Please answer with one tap."),
        when=checkins.describe(schedule, ctx.locale),
    )
    return None  # then the menu again


register_flow(Flow(name="checkin_times", first="times", steps={"times": Step(ask=_ask, respond=_respond)}))
