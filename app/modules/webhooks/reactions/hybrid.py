"""Hybrid: as in every style, webhooks hears orders' status changes and posts them; the same
reactions as in orchestration."""

from app.modules.webhooks.reactions.orchestration import SENDS, SUBSCRIPTIONS

__all__ = ["SENDS", "SUBSCRIPTIONS"]
