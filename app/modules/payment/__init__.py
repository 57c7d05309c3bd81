"""Payment: collects money for orders through a payment provider, and refunds it."""
