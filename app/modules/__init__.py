"""The business modules: the four of the flow, and webhooks, which follows it from outside.
Each owns its tables and talks to the others only through the messages in their ``contracts``
modules."""

MODULES = ("orders", "payment", "inventory", "shipping", "webhooks")
