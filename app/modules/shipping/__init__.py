"""Shipping: hands parcels to a carrier and reports whether they went out."""
