"""The four business modules. Each owns its tables and talks to the others only through the
messages in their ``contracts`` modules."""

MODULES = ("orders", "payment", "inventory", "shipping")
