"""The dashboard's doors: pages need the admin login, actions without it are refused and change
nothing, actions with it still need the form's CSRF token; every answer says its server time."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, log_in
from tests.browser.shop import (
    ADMIN,
    dead_letters,
    open_tasks,
    parked_letter,
    post_form,
    task_of,
)
from tests.e2e.test_server import call, new_item, place

pytestmark = [pytest.mark.browser, pytest.mark.server]

GUARDED_PAGES = ["/", "/orders/new", "/tasks", "/deadletters"]
LIST_REFRESH_MS = 8_000  # the list polls every 2 s
SERVER_TIMING = re.compile(r"\bapp;dur=\d+(\.\d+)?\b")


def held_task(server: Server) -> dict[str, Any]:
    sku = new_item(server, "guard-task")
    return task_of(server.url, place(server, style="hybrid", items=((sku, 1),),
                                     token="tok_clarify"))


def dead_letter(server: Server) -> dict[str, Any]:
    sku = new_item(server, "guard-letter")
    return parked_letter(server.url, place(server, style="hybrid", items=((sku, 1),),
                                           token="tok_outage"))


def order_form(sku: str, customer_id: str, csrf_token: str = "") -> dict[str, str]:
    return {"style": "hybrid", "flow": "sequential", "customer_id": customer_id,
            "customer_name": "Mallory", "address": "1 Main Street, Springfield",
            "sku": sku, "quantity": "1", "token": "tok_ok", "csrf_token": csrf_token}


def orders_of(server: Server, customer_id: str) -> list[str]:
    status, body = call("GET", f"{server.url}/api/orders?limit=200", token=ADMIN)
    assert status == 200, body
    return [o["id"] for o in body["items"] if o["customer"]["id"] == customer_id]


def csrf_token_on(page: Page, path: str) -> str:
    page.goto(path)
    token = page.locator("input[name=csrf_token]").first.input_value()
    assert token, f"no csrf_token on {path}"
    return token


# --- login --------------------------------------------------------------------------------------
def test_logging_in_with_the_admin_token_leads_back_to_the_page_asked_for(
        server: Server, page: Page) -> None:
    page.goto("/tasks")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.locator("input[name=csrf_token]")).to_be_attached()

    page.locator("input[name=token]").fill(ADMIN)
    page.locator("input[name=token]").press("Enter")

    expect(page).to_have_url(f"{server.url}/tasks")
    expect(page.locator("input[name=token]")).to_have_count(0)


def test_a_wrong_admin_token_does_not_log_in(page: Page) -> None:
    page.goto("/login")
    page.locator("input[name=token]").fill("not-the-admin-token")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("input[name=token]").press("Enter")

    assert answer.value.status == 401, "a wrong token was let in"
    expect(page.locator("input[name=token]")).to_be_visible()
    assert page.request.get("/tasks", max_redirects=0).status == 303


@pytest.mark.parametrize("path", GUARDED_PAGES)
def test_a_page_without_login_redirects_to_the_login(page: Page, path: str) -> None:
    answer = page.request.get(path, max_redirects=0)

    assert answer.status == 303, (path, answer.status)
    assert answer.headers["location"].endswith(f"/login?next={quote(path, safe='')}") or \
        answer.headers["location"].endswith(f"/login?next={path}"), answer.headers["location"]


def test_an_order_page_without_login_redirects_to_the_login(server: Server, page: Page) -> None:
    order_id = place(server, style="hybrid", items=((new_item(server, "guard-page"), 1),))

    answer = page.request.get(f"/orders/{order_id}", max_redirects=0)

    assert answer.status == 303
    assert "/login?next=" in answer.headers["location"]


# --- actions without login ----------------------------------------------------------------------
def test_approving_a_task_without_login_is_refused_and_changes_nothing(
        server: Server, page: Page) -> None:
    task = held_task(server)

    answer = post_form(page, f"/tasks/{task['id']}/complete",
                       {"outcome": "approved", "csrf_token": "anything"})

    assert answer.status == 401
    assert [t["id"] for t in open_tasks(server.url, task["order_id"])] == [task["id"]]


def test_retrying_a_dead_letter_without_login_is_refused_and_changes_nothing(
        server: Server, page: Page) -> None:
    letter = dead_letter(server)

    answer = post_form(page, f"/deadletters/{letter['id']}/retry", {"csrf_token": "anything"})

    assert answer.status == 401
    assert [d["id"] for d in dead_letters(server.url, letter["order_id"])] == [letter["id"]]


def test_placing_an_order_without_login_is_refused_and_places_nothing(
        server: Server, page: Page) -> None:
    sku = new_item(server, "guard-order")

    answer = post_form(page, "/orders", order_form(sku, "c-no-login", csrf_token="anything"))

    assert answer.status == 401
    assert orders_of(server, "c-no-login") == []


# --- actions with login but without the form's token --------------------------------------------
@pytest.mark.parametrize("csrf_token", [None, "", "forged"])
def test_approving_a_task_needs_the_forms_csrf_token(server: Server, admin: Page,
                                                     csrf_token: str | None) -> None:
    task = held_task(server)
    path = f"/tasks/{task['id']}/complete"
    form = {"outcome": "approved"} | ({} if csrf_token is None else {"csrf_token": csrf_token})

    assert post_form(admin, path, form).status == 400
    assert [t["id"] for t in open_tasks(server.url, task["order_id"])] == [task["id"]]

    real = csrf_token_on(admin, "/tasks")
    assert post_form(admin, path, {"outcome": "approved", "csrf_token": real}).status == 303
    assert open_tasks(server.url, task["order_id"]) == []


def test_retrying_a_dead_letter_needs_the_forms_csrf_token(server: Server, admin: Page) -> None:
    letter = dead_letter(server)
    path = f"/deadletters/{letter['id']}/retry"

    assert post_form(admin, path, {"csrf_token": "forged"}).status == 400
    assert [d["id"] for d in dead_letters(server.url, letter["order_id"])] == [letter["id"]]

    real = csrf_token_on(admin, "/deadletters")
    assert post_form(admin, path, {"csrf_token": real}).status == 303
    assert dead_letters(server.url, letter["order_id"]) == []


def test_placing_an_order_needs_the_forms_csrf_token(server: Server, admin: Page) -> None:
    sku = new_item(server, "guard-csrf-order")

    assert post_form(admin, "/orders", order_form(sku, "c-forged", "forged")).status == 400
    assert orders_of(server, "c-forged") == []

    real = csrf_token_on(admin, "/orders/new")
    answer = post_form(admin, "/orders", order_form(sku, "c-forged", real))
    assert answer.status == 303, answer.text()
    assert answer.headers["location"].endswith(f"/orders/{orders_of(server, 'c-forged')[0]}")


# --- server time --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/login", "/wiring", *GUARDED_PAGES])
def test_every_dashboard_answer_says_its_server_time(admin: Page, path: str) -> None:
    answer = admin.goto(path)

    assert answer is not None and answer.status == 200, (path, answer and answer.status)
    assert SERVER_TIMING.search(answer.headers.get("server-timing", "")), answer.headers



def test_a_list_left_open_goes_to_the_login_once_logged_out_elsewhere(page: Page) -> None:
    log_in(page)  # a login of its own: logging out ends it for every tab that shares it
    admin = page
    admin.goto("/")
    expect(admin.locator("#order-rows")).to_be_attached()
    other = admin.context.new_page()
    other.goto("/tasks")

    other.get_by_role("button", name="Log out").click()

    expect(other).to_have_url(re.compile(r"/login"))
    expect(admin).to_have_url(re.compile(r"/login"), timeout=LIST_REFRESH_MS)
    expect(admin.locator("#order-rows")).to_have_count(0)  # not the login swapped into the table
