"""Which messages shipping listens to, one file per style."""
