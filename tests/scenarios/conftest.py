from __future__ import annotations

import pytest

from tests.shop import Shop


@pytest.fixture
def shop(app, clock) -> Shop:  # type: ignore[no-untyped-def]
    return Shop(app, clock)
