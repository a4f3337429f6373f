"""The conversation core: flows as data, and one step function (state, incoming) → (state, replies).

It knows nothing of Telegram or the web chat. State lives in the conversations table (see
storage.conversations) with a version, so a restart or a second instance continues at the same
question and two updates for the same person are never applied at once.

State shape (JSON): {"flow": name, "step": name, "n": nonce, "a": {answers}, "m": {message id: step},
"lang": "ko", "last_receipt": "2611-01234"}. Every button a flow shows carries the nonce of the
question it belongs to ("n<nonce>:<value>"); a button from an older question is stale.

Extension points for other modules:
- FLOWS: register a Flow with `register_flow` (care managers, provider staff, ...).
- START_HOOKS: `@start_hook` functions see "/start <argument>" first (invite codes).
- HOME_HOOKS: `@home_hook` functions may show their own home instead of the resident menu
  (a bound care manager's menu); return True when they did.
- Buttons of other modules ("ci:", "sv:", "as:") go through bot.callbacks before any flow step.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot import callbacks
from bot.messages import Button, Incoming, Reply
from care import intake, parsing, places
from care.actors import Actor
from care.auth import Access
from care.intake import MAX_TEXT
from dolbom.errors import AppError, ConflictError, RegistrationNumberRefused
from dolbom.i18n import N_, gettext, normalize
from storage import conversations, inbound
from storage.db import Database

log = logging.getLogger(__name__)

HOME_FLOW: Final = "home"
HOME_STEP: Final = "menu"
STAY: Final = "__stay__"  # an answer that keeps the person at the same question without asking again
MAX_EDITABLE_MESSAGES: Final = 40

MSG_UNSUPPORTED: Final = N_("Please tell us with words or buttons.")
MSG_TOO_LONG: Final = N_("That message is too long. Please keep it under 1,000 characters.")
MSG_STALE: Final = N_("That button belongs to an earlier message, so nothing changed. Please use the newest message.")
MSG_PRESS_BUTTON: Final = N_("Please choose one of the buttons below.")
MSG_CANCELLED: Final = N_("Cancelled. Nothing from this request was saved.")
MSG_BUSY: Final = N_("We are still working on your previous message. Please send it again in a moment.")
MSG_EDITED: Final = N_("Thank you, your answer is changed.")
MSG_EDIT_TOO_LATE: Final = N_("That answer can no longer be changed here. Please send a new message.")
MSG_UNKNOWN_COMMAND: Final = N_("That command is not known.")
BTN_HOME: Final = N_("Back to the start")
BTN_CANCEL: Final = N_("Cancel")

HOME_WORDS: Final = frozenset({"처음으로", "처음", "메뉴", "home", "menu", "back to the start", "start over"})
CANCEL_WORDS: Final = frozenset({"취소", "그만", "cancel", "stop"})


@dataclass(frozen=True)
class Answer:
    """What the person answered: a typed text (or shared phone number), or a button's value."""

    text: str | None = None
    choice: str | None = None
    kind: str = "text"


@dataclass
class Ctx:
    """One step in progress: the session, the incoming event, the state being built, the replies."""

    session: AsyncSession
    incoming: Incoming
    state: dict[str, Any]
    replies: list[Reply] = field(default_factory=list)
    editing: bool = False

    @property
    def locale(self) -> str:
        return normalize(self.state.get("lang"))

    @property
    def a(self) -> dict[str, Any]:
        """The answers of the current flow."""
        return self.state.setdefault("a", {})

    @property
    def channel(self) -> str:
        return self.incoming.channel

    @property
    def user_key(self) -> str:
        return self.incoming.user_key

    async def district_id(self) -> int | None:
        """Return the district this conversation serves: the desk operator's own, the one the person
        picked (or a /start link chose), else the bot's first."""
        desk = self.incoming.desk
        if desk is None and self.state.get("district"):
            chosen = await places.get_active_district(self.session, district_id=int(self.state["district"]))
            if chosen is not None:
                return chosen.id
        return await intake.find_district_id(self.session, preferred=desk.district_id if desk else None)

    def taken_by(self) -> tuple[Access | None, Actor | None]:
        """Return (access, history actor) when a desk operator is typing in the web chat, else (None, None)."""
        desk = self.incoming.desk
        if desk is None:
            return None, None
        access = Access(
            operator_id=desk.operator_id,
            username=desk.username,
            ip=desk.ip,
            district_id=desk.district_id,
            role=desk.role,
        )
        return access, Actor(kind="operator", id=desk.operator_id, name=desk.name, channel=self.channel)

    def t(self, msgid: str, **params: Any) -> str:
        """Return msgid translated into the person's language."""
        return gettext(msgid, self.locale, **params)

    def btn(self, label_msgid: str, value: str, **params: Any) -> Button:
        """Return a button of the current question (it carries the question's nonce)."""
        return Button(text=self.t(label_msgid, **params), data=f"n{self.state.get('n', 0)}:{value}")

    def raw_btn(self, text: str, value: str) -> Button:
        """Return a button with an already translated text."""
        return Button(text=text, data=f"n{self.state.get('n', 0)}:{value}")

    def say(self, msgid: str, buttons: list[list[Button]] | None = None, **params: Any) -> Reply:
        """Add a reply with a translated text and return it."""
        reply = Reply(text=self.t(msgid, **params), buttons=buttons or [])
        self.replies.append(reply)
        return reply

    def say_text(self, text: str, buttons: list[list[Button]] | None = None) -> Reply:
        reply = Reply(text=text, buttons=buttons or [])
        self.replies.append(reply)
        return reply


Ask = Callable[[Ctx], Awaitable[None]]
Respond = Callable[[Ctx, Answer], Awaitable[str | None]]


@dataclass(frozen=True)
class Step:
    """One question: how to ask it and what to do with the answer (return the next step's name).

    The answer function returns the next step of the same flow, "flow/step" for another flow,
    None to go home, or STAY; it raises InvalidInput to ask again with the error.
    """

    ask: Ask
    respond: Respond
    editable: bool = False  # an edited message (before submit) may change this answer


@dataclass(frozen=True)
class Flow:
    name: str
    first: str
    steps: dict[str, Step]
    nav: bool = True  # add 처음으로 / 취소 under every question


FLOWS: dict[str, Flow] = {}
StartHook = Callable[[Ctx, str], Awaitable[bool]]
HomeHook = Callable[[Ctx], Awaitable[bool]]
START_HOOKS: list[StartHook] = []
HOME_HOOKS: list[HomeHook] = []
TEXT_HOOKS: list[StartHook] = []
# The step in progress while a callback handler runs, so a handler can continue in a flow
# (e.g. "as:<id>:decline" asks for the reason with `goto(current(), "provider", "decline_reason")`).
_CURRENT: ContextVar[Ctx | None] = ContextVar("bot_current_ctx", default=None)


def current() -> Ctx | None:
    """Return the step in progress (inside a callback handler), or None."""
    return _CURRENT.get()


def text_hook(hook: StartHook) -> StartHook:
    """Register a function that sees typed text before the flow step (invite codes typed without /start)."""
    if hook not in TEXT_HOOKS:
        TEXT_HOOKS.append(hook)
    return hook


def register_flow(flow: Flow) -> Flow:
    """Add a flow to the registry (its name must be new) and return it."""
    if flow.name in FLOWS and FLOWS[flow.name] is not flow:
        raise ValueError(f"flow {flow.name!r} is registered already")
    FLOWS[flow.name] = flow
    return flow


def start_hook(hook: StartHook) -> StartHook:
    """Register a function that may handle "/start <argument>" (e.g. an invite code)."""
    if hook not in START_HOOKS:
        START_HOOKS.append(hook)
    return hook


def home_hook(hook: HomeHook) -> HomeHook:
    """Register a function that may show its own home menu for some people."""
    if hook not in HOME_HOOKS:
        HOME_HOOKS.append(hook)
    return hook


# ---------------------------------------------------------------- navigation


def _bump(ctx: Ctx) -> None:
    ctx.state["n"] = int(ctx.state.get("n", 0)) + 1


def _nav_row(ctx: Ctx) -> list[Button]:
    return [
        Button(text=ctx.t(BTN_HOME), data="g:home"),
        Button(text=ctx.t(BTN_CANCEL), data=f"g:cancel:{ctx.state.get('n', 0)}"),
    ]


async def ask_current(ctx: Ctx) -> None:
    """Ask the current question again (same nonce: its earlier buttons stay valid)."""
    flow = FLOWS.get(ctx.state.get("flow") or "")
    step = flow.steps.get(ctx.state.get("step") or "") if flow else None
    if flow is None or step is None:
        await go_home(ctx)
        return
    before = len(ctx.replies)
    try:
        await step.ask(ctx)
    except AppError as err:
        _say_error(ctx, err)
    if flow.nav and len(ctx.replies) > before:
        last = ctx.replies[-1]
        last.buttons = [*last.buttons, _nav_row(ctx)]


async def goto(ctx: Ctx, flow_name: str, step_name: str | None = None) -> None:
    """Move to a question (the first of the flow by default) and ask it."""
    flow = FLOWS[flow_name]
    if ctx.state.get("flow") != flow_name:
        ctx.state["a"] = {}
        ctx.state["m"] = {}
    ctx.state["flow"] = flow_name
    ctx.state["step"] = step_name or flow.first
    _bump(ctx)
    await ask_current(ctx)


def reset(ctx: Ctx) -> None:
    """Forget the current flow and its answers (the language and last receipt stay)."""
    keep: dict[str, Any] = {k: ctx.state[k] for k in ("lang", "n", "last_receipt", "district") if k in ctx.state}
    ctx.state.clear()
    ctx.state.update(keep)


async def go_home(ctx: Ctx) -> None:
    """Forget the current flow and show the home menu."""
    reset(ctx)
    for hook in HOME_HOOKS:
        if await hook(ctx):
            return
    await goto(ctx, HOME_FLOW, HOME_STEP)


async def _resolve(ctx: Ctx, target: str | None) -> None:
    if target == STAY:
        return
    if target is None:
        await go_home(ctx)
        return
    if "/" in target:
        flow_name, step_name = target.split("/", 1)
        await goto(ctx, flow_name, step_name or None)
        return
    await goto(ctx, ctx.state["flow"], target)


# ---------------------------------------------------------------- the step function


_NONCE = re.compile(r"^n(?P<n>\d+):(?P<value>.*)$", re.S)


def _say_error(ctx: Ctx, err: AppError) -> None:
    params = {k: ctx.t(v) if isinstance(v, str) else v for k, v in err.params.items()}
    ctx.say_text(ctx.t(err.msgid, **params))


async def step(session: AsyncSession, state: dict[str, Any], incoming: Incoming) -> tuple[dict[str, Any], list[Reply]]:
    """Return the new state and the replies for one incoming event."""
    ctx = Ctx(session=session, incoming=incoming, state=copy.deepcopy(state or {}))
    if incoming.language or "lang" not in ctx.state:
        ctx.state["lang"] = normalize(incoming.language or ctx.state.get("lang"))
    await _dispatch(ctx)
    return ctx.state, ctx.replies


async def _dispatch(ctx: Ctx) -> None:
    inc = ctx.incoming
    if inc.kind == "callback":
        found = callbacks.find(inc.data)
        if found is not None:
            handler, payload = found
            token = _CURRENT.set(ctx)
            try:
                ctx.replies.extend(await handler(ctx.session, inc, payload))
            except AppError as err:
                _say_error(ctx, err)
            finally:
                _CURRENT.reset(token)
            return

    text = inc.text if inc.kind in ("text", "command", "edited", "contact") else None
    if text is not None:
        # Checked before anything is kept, so neither the state nor a log holds it.
        if len(text) > MAX_TEXT:
            ctx.say(MSG_TOO_LONG)
            return
        if parsing.contains_registration_number(text):
            ctx.say(RegistrationNumberRefused.msgid)
            await ask_current(ctx)
            return
        text = text.strip()

    if inc.kind == "unsupported":
        ctx.say(MSG_UNSUPPORTED)
        await ask_current(ctx)
        return

    if inc.kind == "command":
        command, _, argument = (text or "").lstrip("/").partition(" ")
        command = command.split("@", 1)[0].lower()
        argument = argument.strip()
        if command == "start":
            if argument:
                for hook in START_HOOKS:
                    if await hook(ctx, argument):
                        return
            await go_home(ctx)
            return
        if command == "cancel":
            await _cancel(ctx)
            return
        if command not in ("menu", "home"):
            ctx.say(MSG_UNKNOWN_COMMAND)
        await go_home(ctx)
        return

    if inc.kind == "edited":
        await _edit(ctx, text or "")
        return

    if inc.kind == "text" and text is not None:
        word = text.lower()
        if word in HOME_WORDS:
            await go_home(ctx)
            return
        if word in CANCEL_WORDS:
            await _cancel(ctx)
            return
        for text_hook_ in TEXT_HOOKS:
            if await text_hook_(ctx, text):
                return

    answer: Answer
    if inc.kind == "callback":
        data = inc.data or ""
        if data == "g:home":
            await go_home(ctx)
            return
        if data.startswith("g:cancel:"):
            if data != f"g:cancel:{ctx.state.get('n', 0)}":
                ctx.say(MSG_STALE)
                return
            await _cancel(ctx)
            return
        match = _NONCE.match(data)
        if match is None or int(match.group("n")) != int(ctx.state.get("n", 0)):
            value = match.group("value") if match else ""
            if value == "submit" and ctx.state.get("last_receipt"):
                ctx.say(
                    N_("This request is sent already. Receipt number: {receipt_no}"),
                    receipt_no=ctx.state["last_receipt"],
                )
            else:
                ctx.say(MSG_STALE)
            return
        answer = Answer(choice=match.group("value"), kind="callback")
    else:
        answer = Answer(text=text, kind=inc.kind)

    flow = FLOWS.get(ctx.state.get("flow") or "")
    current = flow.steps.get(ctx.state.get("step") or "") if flow else None
    if flow is None or current is None:
        await go_home(ctx)
        return
    try:
        target = await current.respond(ctx, answer)
    except AppError as err:
        _say_error(ctx, err)
        await ask_current(ctx)
        return
    if current.editable and inc.message_id and answer.text is not None:
        remembered = ctx.state.setdefault("m", {})
        remembered[str(inc.message_id)] = ctx.state.get("step")
        while len(remembered) > MAX_EDITABLE_MESSAGES:
            remembered.pop(next(iter(remembered)))
    await _resolve(ctx, target)


async def _cancel(ctx: Ctx) -> None:
    reset(ctx)
    ctx.say(MSG_CANCELLED)
    await go_home(ctx)


async def _edit(ctx: Ctx, text: str) -> None:
    """An edited message changes the answer it gave, while the request is not sent yet."""
    step_name = (ctx.state.get("m") or {}).get(str(ctx.incoming.message_id))
    flow = FLOWS.get(ctx.state.get("flow") or "")
    step_def = flow.steps.get(step_name) if flow and step_name else None
    if step_def is None or not step_def.editable:
        ctx.say(MSG_EDIT_TOO_LATE)
        return
    ctx.editing = True
    try:
        await step_def.respond(ctx, Answer(text=text, kind="edited"))
    except AppError as err:
        _say_error(ctx, err)
        return
    finally:
        ctx.editing = False
    ctx.say(MSG_EDITED)
    await ask_current(ctx)


# ---------------------------------------------------------------- one event, one transaction


@dataclass
class Claim:
    """An inbox row being handled: the worker's session (its transaction holds the row) and the row's id.

    The adapter puts what must go out after the commit into `actions` (see bot.telegram); an
    AppError that escaped a handler leaves its kind text in `error_text`.
    """

    session: AsyncSession
    row_id: int
    handled: bool = False
    actions: list[dict[str, Any]] = field(default_factory=list)
    error_text: str | None = None
    conflicts: int = 0  # earlier attempts at this row that found the conversation changed
    accepted: bool = False  # on_accepted ran in an earlier attempt


class Conflicted(Exception):
    """The person's conversation changed meanwhile: the worker rolls back and applies the row again."""


async def mark_handled(claim: Claim) -> bool:
    """Mark the claimed inbox row handled in its transaction (for updates that bypass the step); False: done already."""
    if not await inbound.mark_handled(claim.session, row_id=claim.row_id):
        return False
    claim.handled = True
    return True


async def _apply(
    session: AsyncSession,
    incoming: Incoming,
    claim: Claim | None,
    on_accepted: Callable[[], None] | None,
    accepted: list[bool],
) -> list[Reply] | None:
    if claim is not None:
        if not await inbound.mark_handled(session, row_id=claim.row_id):
            log.info("inbox row %s was handled already", claim.row_id)
            return None
        claim.handled = True
    if on_accepted is not None and not accepted:
        accepted.append(True)
        on_accepted()
    conversation = await conversations.load(session, channel=incoming.channel, user_key=incoming.user_key)
    state, replies = await step(session, conversation.state, incoming)
    await conversations.save(session, conversation=conversation, state=state, language=state.get("lang"))
    return replies


async def handle(
    database: Database,
    incoming: Incoming,
    *,
    inbound_claim: Claim | None = None,
    on_accepted: Callable[[], None] | None = None,
) -> list[Reply] | None:
    """Apply one incoming event in one transaction and return the replies (None: handled already).

    With inbound_claim (an inbox row held by the worker) the event is applied in the worker's
    transaction, and the row is marked handled there first: an exception anywhere after that
    rolls the transaction back (the mark too), and the worker tries the row again. A conversation
    changed meanwhile by someone else raises Conflicted: the worker applies the row again in a
    fresh transaction, and after the second conflict the answer is MSG_BUSY. Without a claim (the
    web chat) the event gets its own transaction, tried twice in the same way. on_accepted runs
    once the event is known to be new (the Telegram adapter answers the callback query there).
    """
    if inbound_claim is not None:
        return await _handle_claimed(incoming, inbound_claim, on_accepted)
    accepted: list[bool] = []
    for attempt in (1, 2):
        try:
            async with database.transaction() as session:
                return await _apply(session, incoming, None, on_accepted, accepted)
        except ConflictError:
            log.info("conversation %s/%s changed meanwhile (attempt %d)", incoming.channel, "…", attempt)
    return [Reply(text=gettext(MSG_BUSY, incoming.language))]


async def _handle_claimed(
    incoming: Incoming, claim: Claim, on_accepted: Callable[[], None] | None
) -> list[Reply] | None:
    # No savepoint: the worker's transaction is the unit. A conflict rolls all of it back (the
    # mark too) and the worker applies the row again; the third try answers MSG_BUSY.
    if claim.conflicts >= 2:
        if not await mark_handled(claim):
            return None
        return [Reply(text=gettext(MSG_BUSY, incoming.language))]
    accepted = [True] if claim.accepted else []
    try:
        return await _apply(claim.session, incoming, claim, on_accepted, accepted)
    except ConflictError:
        log.info("conversation %s/%s changed meanwhile (attempt %d)", incoming.channel, "…", claim.conflicts + 1)
        claim.handled = False
        claim.accepted = bool(accepted)
        raise Conflicted() from None


def load_flows() -> None:
    """Import the built-in flows and every module of bot.actions (they register themselves)."""
    import importlib
    import pkgutil

    import bot.actions
    import bot.flows

    for module in pkgutil.iter_modules(bot.actions.__path__):
        importlib.import_module(f"bot.actions.{module.name}")
