"""`/start <district code>`: a district's own link (on its posters and website) preselects that 구.

With several districts in one deployment the request flow asks the 구 first; a person who came
by a district's link is not asked, and the bot's texts name that district's desk.
"""

from __future__ import annotations

from bot.core import Ctx, go_home, start_hook
from care import places


@start_hook
async def on_start_district(ctx: Ctx, argument: str) -> bool:
    """Handle "/start <district code>": remember the 구 and show the home menu."""
    district = await places.get_active_district_by_code(ctx.session, code=argument)
    if district is None:
        return False
    ctx.state["district"] = district.id  # kept by go_home's reset
    await go_home(ctx)
    return True
