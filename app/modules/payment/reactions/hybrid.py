"""Hybrid: orders turns its events into payment's commands, so payment never learns who its
consumers are. Payment's reactions are the same as in orchestration."""

from app.modules.payment.reactions.orchestration import SUBSCRIPTIONS

__all__ = ["SUBSCRIPTIONS"]
