"""The call centre approves a held payment from the inbox, and an operator retries a parked
delivery from the dead letters; an order page left open in another tab follows the order, by
itself, until it is delivered."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RETRY_MAX_ATTEMPTS, Server
from tests.browser.shop import OUTCOME_TIMEOUT, dead_letters, open_tasks, parked_letter, task_of
from tests.e2e.test_server import new_item, order, place, settled

pytestmark = [pytest.mark.browser, pytest.mark.server]

OUTCOME_MS = int(OUTCOME_TIMEOUT * 1000)
TERMINAL = ("delivered", "cancelled")


def order_page_in_another_tab(admin: Page, order_id: str) -> Page:
    """The order page, open in a second tab and marked, so a reload would show."""
    watcher = admin.context.new_page()
    watcher.goto(f"/orders/{order_id}")
    status = watcher.locator("#order-status")
    expect(status).to_be_visible()
    assert status.get_attribute("data-status") not in TERMINAL
    watcher.evaluate("window.stillTheSamePage = true")
    return watcher


def sees_it_delivered(watcher: Page) -> None:
    expect(watcher.locator("#order-status")).to_have_attribute("data-status", "delivered",
                                                             timeout=OUTCOME_MS)
    assert watcher.evaluate("window.stillTheSamePage === true"), "the order page reloaded"


@pytest.mark.parametrize("style", ["orchestration", "choreography"])
def test_approving_a_clarification_task_in_the_inbox_lets_the_order_go_on(
        server: Server, admin: Page, style: str) -> None:
    sku = new_item(server, f"clarify-{style[:5]}")
    order_id = place(server, style=style, items=((sku, 1),), token="tok_clarify")
    task = task_of(server.url, order_id)
    watcher = order_page_in_another_tab(admin, order_id)
    expect(watcher.locator(f"#tasks form[action='/tasks/{task['id']}/complete']")).to_be_visible()

    admin.goto("/tasks")
    row = admin.locator(f"tr.task[data-task-id='{task['id']}']")
    expect(row).to_have_attribute("data-order-id", order_id)
    with admin.expect_response(re.compile(r"/tasks/[^/]+/complete$")) as answer:
        row.get_by_role("button", name="Approve").click()

    assert answer.value.status == 303
    expect(admin).to_have_url(f"{server.url}/tasks")
    expect(row).to_have_count(0)
    assert open_tasks(server.url, order_id) == []
    sees_it_delivered(watcher)
    assert settled(server, order_id)[0]["status"] == "delivered"


@pytest.mark.parametrize("style", ["choreography", "hybrid"])
def test_retrying_a_dead_letter_lets_the_order_go_on(server: Server, admin: Page,
                                                     style: str) -> None:
    sku = new_item(server, f"outage-{style[:5]}")
    order_id = place(server, style=style, items=((sku, 1),), token="tok_outage")
    letter = parked_letter(server.url, order_id)
    assert letter["attempts"] == RETRY_MAX_ATTEMPTS, letter
    assert order(server, order_id)["status"] not in TERMINAL
    watcher = order_page_in_another_tab(admin, order_id)

    admin.goto("/deadletters")
    row = admin.locator(f"tr.deadletter[data-deadletter-id='{letter['id']}']")
    expect(row).to_have_attribute("data-order-id", order_id)
    expect(row).to_contain_text("tok_outage")
    with admin.expect_response(re.compile(r"/deadletters/\d+/retry$")) as answer:
        row.get_by_role("button", name="Retry").click()

    assert answer.value.status == 303
    expect(admin).to_have_url(f"{server.url}/deadletters")
    expect(row).to_have_count(0)
    assert dead_letters(server.url, order_id) == []
    sees_it_delivered(watcher)
    assert settled(server, order_id)[0]["status"] == "delivered"
