"""Inventory: the catalogue (names, prices, stock) and picks that take goods off the shelf."""
