"""A provider's answer to an assignment notice: the 수락 / 거절 buttons ("as:<assignment id>:accept|decline").

The notice may be pressed long after it was sent, whatever the person is doing. 수락 records the
acceptance and shows the full card (address and phone) with 진행 시작; 거절 continues in the provider
flow with the reason question. A button for another organisation's assignment (or pressed by an
account that is not provider staff) is refused and written to the access log.

Importing this module also registers the care-manager and provider flows and the invite-code hooks.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot import core
from bot.callbacks import register
from bot.flows import care_manager, provider, roles  # noqa: F401 - they register themselves
from bot.messages import Incoming, Reply
from care import invites, order_notices, provider_tasks
from dolbom.errors import AppError
from dolbom.i18n import N_, gettext

log = logging.getLogger(__name__)
MSG_INVALID = N_("That button is no longer valid.")


@register("as")
async def on_assignment(session: AsyncSession, incoming: Incoming, payload: str) -> list[Reply]:
    """Accept, or start declining, an assignment from its notice."""
    raw_id, _, action = payload.partition(":")
    if not raw_id.isdigit() or action not in (order_notices.ACCEPT, order_notices.DECLINE):
        return [Reply(gettext(MSG_INVALID, incoming.language))]
    aid = int(raw_id)
    binding = await invites.get_binding(session, channel=incoming.channel, user_key=incoming.user_key)
    if binding is None or binding.role != "provider_staff" or binding.provider_id is None:
        await provider_tasks.refuse_non_staff(
            session, channel=incoming.channel, user_key=incoming.user_key, assignment_id=aid
        )
        return [Reply(gettext(provider_tasks.MSG_NOT_YOURS, incoming.language))]
    ctx = core.current()
    assert ctx is not None, "bot.core sets the step in progress around callback handlers"
    try:
        if action == order_notices.ACCEPT:
            _provider_id, actor = await provider.provider_actor(ctx)
            await provider_tasks.accept(session, provider_id=binding.provider_id, assignment_id=aid, actor=actor)
            ctx.say(N_("Accepted. Here are the address and phone number."))
            await provider.open_task(ctx, aid)
        else:
            view = await provider_tasks.get(session, provider_id=binding.provider_id, assignment_id=aid)
            if view.assignment.status != "pending":
                return [Reply(gettext(provider_tasks.MSG_NOT_WAITING, ctx.locale))]
            await provider.open_task(ctx, aid, "decline_reason")
    except AppError as err:
        # Shown to the person; the transaction still commits, so a refusal stays in the access log.
        params = {k: ctx.t(v) if isinstance(v, str) else v for k, v in err.params.items()}
        return [Reply(ctx.t(err.msgid, **params))]
    return []
