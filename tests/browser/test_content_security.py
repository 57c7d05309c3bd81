"""The dashboard works under its Content-Security-Policy: every page, with its htmx refreshes
and Mermaid diagrams, runs without one violation, and no other site can frame it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, Tab
from tests.browser.shop import OUTCOME_TIMEOUT
from tests.e2e.test_server import new_item, place

pytestmark = [pytest.mark.browser, pytest.mark.server]

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def violations(page: Page) -> list[str]:
    return page.evaluate("window.__violations")  # type: ignore[no-any-return]


def test_every_dashboard_page_runs_without_a_csp_violation(server: Server, admin_tab: Tab,
                                                           admin: Page) -> None:
    order_id = place(server, style="hybrid", items=((new_item(server, "csp"), 1),))
    admin.add_init_script(RECORD_VIOLATIONS)
    seen: dict[str, list[str]] = {}

    for path in ("/", "/orders/new", "/tasks", "/deadletters", "/wiring",
                 f"/orders/{order_id}"):
        admin.goto(path)
        admin.wait_for_load_state("networkidle")
        seen[path] = violations(admin)
    expect(admin.locator("#order-status")).to_have_attribute(
        "data-status", "delivered", timeout=int(OUTCOME_TIMEOUT * 1000))
    expect(admin.locator("#sequence svg")).to_be_visible()  # Mermaid drew, under the policy
    seen["after the live refresh"] = violations(admin)

    assert all(not found for found in seen.values()), seen
    assert not [e for e in admin_tab.errors if "Content Security Policy" in e], admin_tab.errors


def test_another_site_cannot_frame_the_dashboard(server: Server, tab: Tab, page: Page) -> None:
    page.set_content(f'<iframe id="shop" src="{server.url}/login"></iframe>')
    frame = page.frame_locator("#shop")

    expect(frame.locator("input[name=token]")).to_have_count(0)
