"""Builders for the common kinds of question: choose a button, or type an answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.core import Answer, Ctx, Step
from bot.messages import Button
from dolbom.errors import InvalidInput
from dolbom.i18n import N_

Next = str | None | Callable[[Ctx], str | None]
Options = Sequence[tuple[str, str]] | Callable[[Ctx], Awaitable[Sequence[tuple[str, str]]]]


def resolve_next(ctx: Ctx, target: Next) -> str | None:
    return target(ctx) if callable(target) else target


def rows(buttons: list[Button], columns: int) -> list[list[Button]]:
    """Return buttons laid out in rows of `columns`."""
    return [buttons[i : i + columns] for i in range(0, len(buttons), columns)]


async def _options(ctx: Ctx, options: Options) -> Sequence[tuple[str, str]]:
    return await options(ctx) if callable(options) else options


def question_text(ctx: Ctx, question: str | Callable[[Ctx], str]) -> str:
    return question(ctx) if callable(question) else ctx.t(question)


def choice(
    question: str | Callable[[Ctx], str],
    key: str,
    options: Options,
    next_step: Next,
    *,
    columns: int = 2,
    translate: bool = True,
    store: Callable[[str], Any] = lambda value: value,
) -> Step:
    """A question answered with a button (typing a button's text works too)."""

    def label(ctx: Ctx, text: str) -> str:
        return ctx.t(text) if translate else text

    async def ask(ctx: Ctx) -> None:
        opts = await _options(ctx, options)
        buttons = [ctx.raw_btn(label(ctx, text), value) for value, text in opts]
        ctx.say_text(question_text(ctx, question), rows(buttons, columns))

    async def respond(ctx: Ctx, answer: Answer) -> str | None:
        opts = await _options(ctx, options)
        value: str | None = None
        if answer.choice is not None and any(v == answer.choice for v, _ in opts):
            value = answer.choice
        elif answer.text:
            typed = answer.text.strip().lower()
            value = next((v for v, text in opts if label(ctx, text).lower() == typed), None)
        if value is None:
            raise InvalidInput(N_("Please choose one of the buttons below."))
        ctx.a[key] = store(value)
        return resolve_next(ctx, next_step)

    return Step(ask=ask, respond=respond)


def yes_no(question: str | Callable[[Ctx], str], key: str, next_step: Next) -> Step:
    """A yes/no question with 네 / 아니요 buttons."""
    return choice(
        question,
        key,
        [("yes", N_("Yes")), ("no", N_("No"))],
        next_step,
        store=lambda value: value == "yes",
    )


def text(
    question: str | Callable[[Ctx], str],
    key: str,
    next_step: Next,
    *,
    parse: Callable[[Ctx, str], Any] | None = None,
    max_length: int = 200,
    extra: Sequence[tuple[str, str]] = (),
    contact: str | None = None,
    on_choice: Callable[[Ctx, str], Any] | None = None,
) -> Step:
    """A question answered by typing (edits change the answer); extra buttons give set answers."""

    async def ask(ctx: Ctx) -> None:
        buttons = [ctx.btn(text_, value) for value, text_ in extra]
        reply = ctx.say_text(question_text(ctx, question), rows(buttons, 2))
        if contact:
            reply.contact_button = ctx.t(contact)

    async def respond(ctx: Ctx, answer: Answer) -> str | None:
        if answer.choice is not None:
            if not any(v == answer.choice for v, _ in extra):
                raise InvalidInput(N_("Please choose one of the buttons below."))
            ctx.a[key] = on_choice(ctx, answer.choice) if on_choice else None
            return resolve_next(ctx, next_step)
        typed = (answer.text or "").strip()
        if not typed:
            raise InvalidInput(N_("That answer could not be understood."))
        for value, text_ in extra:
            if ctx.t(text_).lower() == typed.lower():
                ctx.a[key] = on_choice(ctx, value) if on_choice else None
                return resolve_next(ctx, next_step)
        if len(typed) > max_length:
            raise InvalidInput(N_("That answer is too long. Please write it shorter."))
        ctx.a[key] = parse(ctx, typed) if parse else typed
        return resolve_next(ctx, next_step)

    return Step(ask=ask, respond=respond, editable=True)
