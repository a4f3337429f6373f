"""After completion: 잘 받았어요 / 일부만 / 못 받았어요 ("sr:<survey id>:all|partly|none"), then the 1–5
buttons of 만족하셨나요? ("sv:<survey id>:<score>"), then an optional comment."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import core
from bot.callbacks import register
from bot.core import Answer, Ctx, Flow, Step, register_flow
from bot.messages import Button, Incoming, Reply
from care import surveys
from dolbom.errors import AppError, InvalidInput
from dolbom.i18n import N_, gettext

MSG_INVALID = N_("That button is no longer valid.")
ASK_COMMENT = N_("Is there anything you would like to tell us? Please write it. If not, press the button.")
NO_COMMENT = N_("No, that is all")
THANKS_COMMENT = N_("Thank you. We will pass it on to the desk.")


@register("sr")
async def on_received(session: AsyncSession, incoming: Incoming, payload: str) -> list[Reply]:
    """Record whether the help arrived; thank or apologise, then ask the 1–5 score (not after 못 받았어요)."""
    survey_id, _, received = payload.partition(":")
    if not survey_id.isdigit() or received not in surveys.RECEIVED:
        return [Reply(gettext(MSG_INVALID, incoming.language))]
    try:
        survey, counted = await surveys.answer_received(
            session,
            survey_id=int(survey_id),
            received=received,
            channel=incoming.channel,
            user_key=incoming.user_key,
        )
    except AppError:
        return [Reply(gettext(MSG_INVALID, incoming.language))]
    answer = survey.received or received
    text = {
        surveys.ALL: surveys.THANKS_RECEIVED,
        surveys.PARTLY: surveys.SORRY_PARTLY,
        surveys.NONE: surveys.SORRY_NONE,
    }[answer]
    replies = [Reply(gettext(text, incoming.language))]
    if counted and answer != surveys.NONE and survey.score is None:
        question = await surveys.score_question_for(session, survey=survey, locale=incoming.language)
        buttons = [[Button(b["text"], b["data"]) for b in row] for row in surveys.score_buttons(int(survey_id))]
        replies.append(Reply(question, buttons))
    return replies


@register("sv")
async def on_score(session: AsyncSession, incoming: Incoming, payload: str) -> list[Reply]:
    """Record the score, thank the person and offer to leave a comment."""
    survey_id, _, score = payload.partition(":")
    if not survey_id.isdigit() or not score.isdigit():
        return [Reply(gettext(MSG_INVALID, incoming.language))]
    try:
        await surveys.answer(
            session, survey_id=int(survey_id), score=int(score), channel=incoming.channel, user_key=incoming.user_key
        )
    except AppError:
        return [Reply(gettext(MSG_INVALID, incoming.language))]
    ctx = core.current()
    if ctx is None:  # called outside the conversation core
        return [Reply(gettext(surveys.THANKS, incoming.language))]
    ctx.say(surveys.THANKS)
    await core.goto(ctx, "survey_comment")
    ctx.a["survey_id"] = int(survey_id)
    return []


async def _ask_comment(ctx: Ctx) -> None:
    ctx.say(ASK_COMMENT, [[ctx.btn(NO_COMMENT, "none")]])


async def _respond_comment(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice == "none":
        return None
    if not answer.text:
        raise InvalidInput(N_("Please write your message."))
    await surveys.add_comment(
        ctx.session, survey_id=int(ctx.a["survey_id"]), comment=answer.text, channel=ctx.channel, user_key=ctx.user_key
    )
    ctx.say(THANKS_COMMENT)
    return None


register_flow(
    Flow(name="survey_comment", first="comment", steps={"comment": Step(ask=_ask_comment, respond=_respond_comment)})
)
