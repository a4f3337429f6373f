"""The built-in flows: the home menu and the resident / family flows. Importing registers them."""

from bot.flows import district, home, request  # noqa: F401
