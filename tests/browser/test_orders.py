"""An operator places an order from the dashboard's form and watches it go through, in every
style; the orders list follows new orders by itself."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, Tab
from tests.browser.shop import OUTCOME_TIMEOUT
from tests.e2e.test_server import new_item, order, place

pytestmark = [pytest.mark.browser, pytest.mark.server]

OUTCOME_MS = int(OUTCOME_TIMEOUT * 1000)
LIST_REFRESH_MS = 8_000  # the list polls every 2 s
STYLE_AND_FLOW = [("choreography", "sequential"), ("orchestration", "parallel"),
                  ("hybrid", "parallel")]


def fill_order_form(page: Page, *, style: str, flow: str, sku: str, quantity: int,
                    token: str = "tok_ok") -> None:
    form = page.locator("form#place-order")
    form.locator("select[name=style]").select_option(style)
    form.locator("select[name=flow]").select_option(flow)
    form.locator("input[name=customer_id]").fill("c-browser")
    form.locator("input[name=customer_name]").fill("Grace Hopper")
    form.locator("input[name=address]").fill("1 Main Street, Springfield")
    form.locator("select[name=sku]").first.select_option(sku)
    form.locator("input[name=quantity]").first.fill(str(quantity))
    form.locator("select[name=token]").select_option(token)


@pytest.mark.parametrize(("style", "flow"), STYLE_AND_FLOW)
def test_an_order_placed_from_the_form_is_delivered_and_its_story_drawn(
        server: Server, admin_tab: Tab, admin: Page, style: str, flow: str) -> None:
    sku = new_item(server, f"form-{style[:5]}", stock=5, price="12.50")
    admin.goto("/orders/new")
    fill_order_form(admin, style=style, flow=flow, sku=sku, quantity=2)
    with admin.expect_response(lambda r: r.request.method == "POST") as answer:
        admin.get_by_role("button", name="Place order").click()

    assert answer.value.status == 303
    expect(admin).to_have_url(re.compile(r"/orders/(?!new$)[^/]+$"))
    order_id = admin.url.rsplit("/", 1)[-1]
    expect(admin.locator("#order-status")).to_have_attribute("data-status", "delivered",
                                                            timeout=OUTCOME_MS)
    placed = order(server, order_id)
    assert (placed["style"], placed["flow"], placed["status"]) == (style, flow, "delivered")
    assert [(i["sku"], i["quantity"]) for i in placed["items"]] == [(sku, 2)]
    assert placed["customer"]["name"] == "Grace Hopper"

    rows = admin.locator("#timeline tr.message")
    expect(rows.first).to_have_attribute("data-type", "OrderPlaced")
    expect(rows.last).to_have_attribute("data-type", "OrderDelivered")
    expect(admin.locator("#timeline tr.message.compensation")).to_have_count(0)
    expect(admin.locator("#current-step")).not_to_be_empty()
    expect(admin.locator("#sequence svg")).to_be_visible()
    expect(admin.locator("#sequence svg")).to_contain_text("OrderDelivered")
    assert not admin_tab.errors, admin_tab.errors


def test_an_invalid_order_form_is_answered_with_the_form_and_what_is_wrong(
        server: Server, admin: Page) -> None:
    sku = new_item(server, "form-invalid")
    admin.goto("/orders/new")
    fill_order_form(admin, style="hybrid", flow="sequential", sku=sku, quantity=1)
    admin.locator("form#place-order input[name=address]").fill("")
    admin.locator("form#place-order input[name=address]").evaluate(
        "field => field.removeAttribute('required')")  # let the server be the one to refuse

    with admin.expect_response(lambda r: r.request.method == "POST") as answer:
        admin.get_by_role("button", name="Place order").click()

    assert answer.value.status == 422
    expect(admin.locator("ul.errors")).to_contain_text("address")
    expect(admin.locator("form#place-order")).to_be_visible()


def test_the_orders_list_shows_a_new_order_without_a_reload(server: Server, admin: Page) -> None:
    sku = new_item(server, "list")
    earlier = place(server, style="hybrid", items=((sku, 1),))
    admin.goto("/")
    expect(admin.locator(f"#order-rows tr.order[data-order-id='{earlier}']")).to_be_visible()
    admin.evaluate("window.stillTheSamePage = true")

    later = place(server, style="choreography", items=((sku, 1),))
    row = admin.locator(f"#order-rows tr.order[data-order-id='{later}']")

    expect(row).to_be_visible(timeout=LIST_REFRESH_MS)
    expect(row).to_have_attribute("data-status", "delivered", timeout=LIST_REFRESH_MS)
    expect(row.locator(f"a[href='/orders/{later}']")).to_be_visible()
    assert admin.evaluate("window.stillTheSamePage === true"), "the list reloaded the page"
