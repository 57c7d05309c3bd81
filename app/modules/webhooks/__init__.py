"""Webhooks: tells the addresses an admin registered about orders' status changes."""
