"""The public wiring page draws who listens to what in each style, from the live wiring."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Tab

pytestmark = [pytest.mark.browser, pytest.mark.server]

STYLES = ("choreography", "orchestration", "hybrid")


def test_the_wiring_page_draws_a_diagram_and_a_coupling_table_per_style(
        tab: Tab, page: Page) -> None:
    answer = page.goto("/wiring")  # public: no login

    assert answer is not None and answer.status == 200
    for style in STYLES:
        expect(page.locator(f"table#coupling-{style}")).to_be_visible()
    expect(page.locator(".mermaid svg")).to_have_count(len(STYLES))
    for diagram in page.locator(".mermaid svg").all():
        expect(diagram).to_contain_text("payment")
    expect(page.locator("#vip-knowledge")).to_be_visible()
    assert not tab.errors, tab.errors
