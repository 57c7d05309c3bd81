"""Which messages inventory listens to, one file per style."""
