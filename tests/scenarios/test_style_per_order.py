"""An order's style is fixed when it is placed: several styles run side by side, and an order
keeps its style across a restart with a different ORDERFLOW_STYLE."""

from __future__ import annotations

from app.config import STYLES
from tests.conftest import on_every_database
from tests.shop import Shop

pytestmark = on_every_database

FIRST_RECEIVER = {
    "choreography": {"payment.when_order_placed_charge_or_plan_vip_invoice",
                     "inventory.when_order_placed_note_goods_and_fetch_now_for_vip_or_parallel",
                     "shipping.when_order_placed_note_address_and_whether_vip_ships_unpaid"},
    "orchestration": {"orders.when_order_placed_retrieve_payment_or_fetch_goods"},
    "hybrid": {"orders.when_order_placed_retrieve_payment_or_release_order"},
}


def test_three_styles_run_side_by_side_in_one_process(shop: Shop) -> None:
    orders = {style: shop.place(style=style) for style in STYLES}
    for style, order in orders.items():
        assert shop.order(order)["status"] == "delivered"
        timeline = shop.timeline(order)
        assert {m["event"]["style"] for m in timeline} == {style}
        assert {d["receiver"] for d in timeline[0]["deliveries"]} == FIRST_RECEIVER[style]


def test_the_default_style_comes_from_configuration(make_app, clock) -> None:  # type: ignore[no-untyped-def]
    shop = Shop(make_app(style="choreography"), clock)
    response = shop.client.post("/api/orders", json={
        "customer": {"id": "c", "name": "N", "address": "A"},
        "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_ok"}})
    assert response.get_json()["style"] == "choreography"


def test_an_order_keeps_its_style_across_a_restart_with_another_style(make_app, clock) -> None:  # type: ignore[no-untyped-def]
    before = Shop(make_app(style="choreography", dispatch="background"), clock)
    order = before.place(style="choreography")  # background dispatcher never started: a crash
    assert before.order(order)["status"] == "placed"
    before.runtime.close()

    after = Shop(make_app(style="orchestration"), clock)
    after.runtime.start()  # recovery at start-up delivers what was left
    assert after.order(order)["status"] == "delivered"
    timeline = after.timeline(order)
    assert {m["event"]["style"] for m in timeline} == {"choreography"}
    assert not any(m["event"]["kind"] == "command" for m in timeline)
