"""Web plumbing shared by the modules' APIs: JSON errors, admin auth, money formats."""
