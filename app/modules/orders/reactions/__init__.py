"""Which messages orders listens to, and which commands it sends, one file per style."""
