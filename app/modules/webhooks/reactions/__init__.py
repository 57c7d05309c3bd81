"""Which messages webhooks listens to, one file per style (the same in every style)."""
