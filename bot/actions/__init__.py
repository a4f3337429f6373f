"""Buttons that act outside a flow (check-in answers, survey scores, assignment decisions).

Every module in this package is imported at start-up (bot.core.load_flows) and registers its
callback prefix with `bot.callbacks.register`.
"""
