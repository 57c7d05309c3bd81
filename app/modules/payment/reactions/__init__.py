"""Which messages payment listens to, one file per style."""
