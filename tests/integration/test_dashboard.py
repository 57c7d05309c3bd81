"""The dashboard through Flask's test client (no browser): login and CSRF guards, placing orders
from the form in every style and flow, the order page (timeline, sequence diagram, current step,
live refresh), the orders list (filters, keyset pages, stuck rows), the operator's actions (tasks,
dead letters, invoices, the manual clock) and the public wiring page. Pages are parsed with the
standard library's ``html.parser``; what they show is checked against the JSON API."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from sqlalchemy import text
from werkzeug.test import TestResponse

from app.clock import ManualClock
from app.config import FLOWS, STYLES
from app.dashboard import forms
from app.dashboard.diagrams import MODULE_ORDER
from tests.conftest import ADMIN, ADMIN_HEADERS, on_every_database
from tests.shop import HOME, Shop
from tests.webhooks import FAIL, Receiver, assert_heard_each_change_once, pass_time_until

EVERY_STYLE = pytest.mark.parametrize("style", STYLES)
MAX_AUTOMATIC_ATTEMPTS = 5  # ORDERFLOW_RETRY_MAX_ATTEMPTS' default
PAGE_SIZE = 50  # OrderListQuery's default limit
STATIC = Path(__file__).resolve().parents[2] / "app" / "static"
VENDOR_README = STATIC / "vendor" / "README.md"  # its table has each script's sha256
LICENCES = {"htmx": "Zero-Clause BSD", "mermaid": "The MIT License"}


# --- a small DOM from html.parser ----------------------------------------------------------
class Node:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs = tag, attrs
        self.children: list[Node | str] = []

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>"

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    @property
    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text
                       for child in self.children)

    def walk(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def all(self, tag: str | None = None, class_: str | None = None,
            **attrs: str) -> list[Node]:
        """Descendants by tag, class and exact attributes (``data_order_id`` is data-order-id)."""
        wanted = {name.replace("_", "-"): value for name, value in attrs.items()}
        return [node for node in self.walk()
                if (tag is None or node.tag == tag)
                and (class_ is None or class_ in node.classes)
                and all(node.attrs.get(name) == value for name, value in wanted.items())]

    def one(self, tag: str | None = None, class_: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, class_, **attrs)
        assert len(found) == 1, f"expected one {tag} {class_} {attrs}, found {found}"
        return found[0]

    def by_id(self, element_id: str) -> Node:
        return self.one(id=element_id)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.open[-1].children.append(node)
        if tag not in VOID:
            self.open.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def form_fields(form: Node) -> dict[str, list[str]]:
    """What a browser would send for this form as it stands (buttons aside)."""
    fields: dict[str, list[str]] = {}
    for node in form.walk():
        name = node.attrs.get("name")
        if not name or node.tag not in ("input", "select"):
            continue
        if node.tag == "select":
            options = node.all("option")
            chosen = next((o for o in options if "selected" in o.attrs), options[0])
            value = chosen.attrs.get("value", chosen.text)
        elif node.attrs.get("type") == "checkbox":
            if "checked" not in node.attrs:
                continue
            value = node.attrs.get("value", "on")
        else:
            value = node.attrs.get("value", "")
        fields.setdefault(name, []).append(value)
    return fields


def problems_on(page: Node) -> list[str]:
    return [item.text.strip() for errors in page.all("ul", "errors") for item in errors.all("li")]


def sequence_lines(text: str) -> list[tuple[bool, str]]:
    """A Mermaid sequence diagram's lines, each with whether it sits in a ``rect`` block."""
    lines, inside = [], False
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("rect "):
            inside = True
        elif line == "end":
            inside = False
        else:
            lines.append((inside, line))
    return lines


ARROW = re.compile(r"^(\w+)(-->>|->>|--x|-x)(\w+): (\w+)$")


def arrows(text: str) -> list[tuple[str, str, str, str]]:
    return [match.groups() for _, line in sequence_lines(text)  # type: ignore[misc]
            if (match := ARROW.match(line))]


def version_of(live: Node) -> str:
    """What htmx sends back with the live part's next request: the version it shows."""
    return str(json.loads(live.attrs["hx-vals"])["version"])


def short(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


# --- the operator at a browser ------------------------------------------------------------------
class Dashboard:
    """One browser session: pages come back parsed, forms carry this session's CSRF token."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()
        self.csrf = ""

    def get(self, path: str, status: int = 200) -> Node:
        response = self.client.get(path)
        assert response.status_code == status, (path, response.status_code, response.text)
        return parse(response.text)

    def login(self, token: str = ADMIN, next_path: str = "") -> TestResponse:
        form = self.get("/login").by_id("login")
        fields = {**form_fields(form), "token": [token], "next": [next_path]}
        response = self.client.post("/login", data=fields)
        if response.status_code == 303:
            self.csrf = self.page_token()
        return response

    def page_token(self) -> str:
        return form_fields(self.get("/orders/new").by_id("place-order"))["csrf_token"][0]

    def post(self, path: str, data: dict[str, Any] | None = None) -> TestResponse:
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})})

    def submit(self, form: Node, **changes: Any) -> TestResponse:
        """Send a form found on a page, as it stands but for ``changes``."""
        fields: dict[str, Any] = {**form_fields(form), **changes}
        return self.client.post(form.attrs["action"], data=fields)

    def follow(self, response: TestResponse) -> Node:
        assert response.status_code == 303, (response.status_code, response.text)
        return self.get(response.headers["Location"])

    def place(self, **changes: Any) -> str:
        response = self.submit(self.get("/orders/new").by_id("place-order"), **changes)
        assert response.status_code == 303, problems_on(parse(response.text))
        match = re.fullmatch(r"/orders/([^/?]+)", response.headers["Location"])
        assert match, response.headers["Location"]
        return match.group(1)

    def order_ids(self, path: str, status: int = 200) -> list[str]:
        return [row.attrs["data-order-id"] for row in self.get(path, status).all("tr", "order")]


@pytest.fixture
def shop(app: Flask, clock: ManualClock) -> Shop:
    return Shop(app, clock)


@pytest.fixture
def visitor(app: Flask) -> Dashboard:
    return Dashboard(app)


@pytest.fixture
def operator(app: Flask) -> Dashboard:
    dashboard = Dashboard(app)
    assert dashboard.login().status_code == 303
    return dashboard


def park(shop: Shop, token: str = "tok_outage", style: str = "hybrid") -> str:
    """An order whose payment ran out of automatic retries (the provider is down)."""
    order_id = shop.place(style=style, token=token)
    for _ in range(MAX_AUTOMATIC_ATTEMPTS):
        shop.pass_time("PT1H")
    assert shop.deadletters(order_id), "the payment should be parked"
    return order_id


def status_of(shop: Shop, order_id: str) -> tuple[str, str | None]:
    order = shop.order(order_id)
    return order["status"], order["reason"]


def all_orders(shop: Shop, **filters: str) -> list[str]:
    query = "&".join(f"{key}={value}" for key, value in {"limit": "200", **filters}.items())
    response = shop.client.get(f"/api/orders?{query}", headers=ADMIN_HEADERS)
    return [item["id"] for item in response.get_json()["items"]]


# --- login ------------------------------------------------------------------------------------
GUARDED_PAGES = ["/", "/orders/new", "/tasks", "/deadletters", "/orders/rows",
                 "/orders/some-order", "/orders/some-order/live", "/?status=placed&style=hybrid"]


@pytest.mark.parametrize("path", GUARDED_PAGES)
def test_a_visitor_is_sent_to_the_login_with_the_page_to_come_back_to(
        visitor: Dashboard, path: str) -> None:
    response = visitor.client.get(path)

    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]


def test_the_right_token_logs_in_and_goes_where_the_visitor_was_going(
        visitor: Dashboard) -> None:
    response = visitor.login(next_path="/tasks?cursor=")

    assert (response.status_code, response.headers["Location"]) == (303, "/tasks?cursor=")
    assert visitor.get("/tasks").one("h1").text == "Clarification tasks"


def test_without_a_next_page_the_login_goes_to_the_orders(visitor: Dashboard) -> None:
    response = visitor.login()

    assert (response.status_code, response.headers["Location"]) == (303, "/")


def test_a_wrong_token_is_refused_and_logs_nobody_in(visitor: Dashboard) -> None:
    response = visitor.login(token="not-" + ADMIN, next_path="/tasks")

    assert response.status_code == 401
    page = parse(response.text)
    assert problems_on(page) == ["that is not the admin token"]
    assert form_fields(page.by_id("login"))["next"] == ["/tasks"]
    assert visitor.client.get("/tasks").status_code == 303


OFF_SITE = ["//evil.example", "http://evil.example", "https://evil.example/login",
            "/\\evil.example", "/\t/evil.example", "/\n/evil.example", "\\\\evil.example",
            "javascript:alert(1)", "evil.example"]


def browser_reading(location: str) -> str:
    """How a browser reads a Location: it drops tabs and newlines, and a backslash is a slash."""
    return re.sub(r"[\t\r\n]", "", location).replace("\\", "/")


@pytest.mark.parametrize("target", OFF_SITE)
def test_after_the_login_nobody_is_sent_off_site(visitor: Dashboard, target: str) -> None:
    login_page = visitor.get("/login?" + urlencode({"next": target}))
    assert login_page.by_id("login").one(name="next").attrs["value"] == ""

    response = visitor.login(next_path=target)

    assert response.status_code == 303
    where = urlsplit(browser_reading(response.headers["Location"]))
    assert (where.scheme, where.netloc) == ("", "")
    assert where.path.startswith("/") and not where.path.startswith("//")


def test_the_login_cookie_is_http_only_and_same_site(visitor: Dashboard) -> None:
    form = visitor.get("/login").by_id("login")
    response = visitor.client.post("/login", data={**form_fields(form), "token": ADMIN})

    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("orderflow_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logging_out_ends_the_session(operator: Dashboard) -> None:
    page = operator.get("/tasks")
    logout = next(form for form in page.all("form") if form.attrs["action"] == "/logout")

    response = operator.submit(logout)

    assert (response.status_code, response.headers["Location"]) == (303, "/login")
    assert operator.client.get("/tasks").status_code == 303
    assert operator.post("/clock/advance", {"by": "P1D"}).status_code == 401


@on_every_database
def test_a_cookie_copied_before_logout_is_refused_after_it(app: Flask,
                                                          operator: Dashboard) -> None:
    thief = app.test_client()
    thief.set_cookie("orderflow_session", operator.client.get_cookie("orderflow_session").value)
    assert thief.get("/tasks").status_code == 200  # the copy works while the login lasts
    logout = next(form for form in operator.get("/tasks").all("form")
                  if form.attrs["action"] == "/logout")

    operator.submit(logout)

    assert thief.get("/tasks").status_code == 303
    assert thief.post("/clock/advance", data={"csrf_token": operator.csrf,
                                              "by": "P1D"}).status_code == 401


@on_every_database
def test_logging_out_ends_one_login_and_leaves_the_others(app: Flask,
                                                         operator: Dashboard) -> None:
    colleague = Dashboard(app)
    assert colleague.login().status_code == 303

    operator.post("/logout")

    assert operator.client.get("/tasks").status_code == 303
    assert colleague.client.get("/tasks").status_code == 200


def test_without_an_admin_token_configured_the_login_explains_and_refuses(
        make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a fresh instance folder, so that no admin token stored by a developer leaks in
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(tmp_path))
    visitor = Dashboard(make_app(admin_token=None))

    for token in ("", "anything", ADMIN):
        response = visitor.login(token=token)
        assert response.status_code == 401
        (problem,) = problems_on(parse(response.text))
        assert "no admin token is configured" in problem and "ORDERFLOW_ADMIN_TOKEN" in problem
    assert visitor.client.get("/").status_code == 303


def test_the_csrf_token_changes_at_login(visitor: Dashboard) -> None:
    before = form_fields(visitor.get("/login").by_id("login"))["csrf_token"][0]

    visitor.login()

    assert visitor.csrf and visitor.csrf != before
    assert visitor.post("/clock/advance", {"csrf_token": before, "by": "P1D"}).status_code == 400


def test_the_login_form_itself_needs_its_csrf_token(visitor: Dashboard) -> None:
    visitor.get("/login")

    response = visitor.client.post("/login", data={"token": ADMIN, "next": "/tasks"})

    assert response.status_code == 400
    assert visitor.client.get("/tasks").status_code == 303


# --- every form is guarded ----------------------------------------------------------------------
class World:
    """One of everything an operator can act on: an open task, a dead letter, an open invoice,
    a clarification whose price hold a jump of the clock would end."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.waiting = shop.place(style="choreography", token="tok_clarify")
        (task,) = shop.tasks(self.waiting)
        self.parked = park(shop, style="orchestration")
        (letter,) = shop.deadletters(self.parked)
        self.vip = shop.place(style="hybrid", vip=True)
        (invoice,) = shop.invoices(self.vip)
        self.task_id, self.letter_id, self.invoice_id = task["id"], letter["id"], invoice["id"]

    def state(self) -> dict[str, Any]:
        shop, orders = self.shop, all_orders(self.shop)
        return {"orders": [shop.order(order_id) for order_id in orders],
                "messages": [shop.timeline(order_id) for order_id in orders],
                "tasks": shop.tasks(self.waiting), "deadletters": shop.deadletters(self.parked),
                "invoices": shop.invoices(self.vip), "now": shop.client.get("/api/clock").json}


ACTIONS: dict[str, Callable[[World], tuple[str, dict[str, Any]]]] = {
    "place an order": lambda w: ("/orders", {
        "customer_id": "c-9", "customer_name": "Eve", "address": HOME, "sku": "sku-1",
        "quantity": "1", "token": "tok_ok"}),
    "approve a task": lambda w: (f"/tasks/{w.task_id}/complete", {"outcome": "approved"}),
    "retry a dead letter": lambda w: (f"/deadletters/{w.letter_id}/retry", {}),
    "pay an invoice": lambda w: (f"/invoices/{w.invoice_id}/pay", {}),
    "advance the clock": lambda w: ("/clock/advance", {"by": "P8D"}),
    "log out": lambda w: ("/logout", {}),
}
EVERY_ACTION = pytest.mark.parametrize("action", ACTIONS)


@pytest.fixture
def world(shop: Shop) -> World:
    return World(shop)


@EVERY_ACTION
def test_a_form_without_a_login_is_refused_and_changes_nothing(
        world: World, visitor: Dashboard, action: str) -> None:
    path, data = ACTIONS[action](world)
    token = form_fields(visitor.get("/login").by_id("login"))["csrf_token"][0]
    before = world.state()

    response = visitor.client.post(path, data={**data, "csrf_token": token})

    assert response.status_code == 401
    assert "log in with the admin token first" in problems_on(parse(response.text))
    assert world.state() == before


@EVERY_ACTION
def test_a_form_without_this_sessions_csrf_token_is_refused_and_changes_nothing(
        world: World, operator: Dashboard, app: Flask, action: str) -> None:
    path, data = ACTIONS[action](world)
    other = Dashboard(app)
    other.login()
    before = world.state()

    for token in (None, "", "wrong-" + operator.csrf, other.csrf):
        sent = data if token is None else {**data, "csrf_token": token}
        response = operator.client.post(path, data=sent)
        assert response.status_code == 400, token
        assert "the form is stale" in problems_on(parse(response.text))[0]

    assert world.state() == before
    assert operator.client.get("/tasks").status_code == 200  # still logged in


def test_the_same_forms_with_the_token_do_act(world: World, operator: Dashboard) -> None:
    """The other side of the guards: each action, properly sent, changes something."""
    for action, make in ACTIONS.items():
        before = world.state()
        path, data = make(world)
        response = operator.post(path, data)
        assert response.status_code == 303, (action, response.text)
        assert world.state() != before or action == "log out", action
    assert operator.client.get("/tasks").status_code == 303  # logged out, last


# --- placing an order from the form -------------------------------------------------------------
@EVERY_STYLE
@pytest.mark.parametrize("flow", FLOWS)
def test_an_order_placed_from_the_form_runs_in_its_style_and_flow(
        operator: Dashboard, shop: Shop, style: str, flow: str) -> None:
    order_id = operator.place(style=style, flow=flow, quantity=["2", "1", "1"])

    order = shop.order(order_id)
    assert (order["style"], order["flow"], order["status"]) == (style, flow, "delivered")
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == [("sku-1", 2)]
    page = operator.get(f"/orders/{order_id}")
    assert page.by_id("order-status").attrs["data-status"] == "delivered"
    timeline = shop.timeline(order_id)
    rows = page.by_id("timeline").all("tr", "message")
    assert [row.attrs["data-type"] for row in rows] == [short(m["event"]["type"])
                                                        for m in timeline]
    expected_arrows = [(m["event"]["source"].rsplit("/", 1)[-1],
                        "->>" if m["event"]["kind"] == "command" else "-->>", d["module"],
                        short(m["event"]["type"])) for m in timeline for d in m["deliveries"]]
    assert arrows(page.by_id("sequence").one("pre", "mermaid").text) == expected_arrows


def test_the_form_offers_the_catalogue_styles_flows_and_cards(operator: Dashboard,
                                                               shop: Shop) -> None:
    form = operator.get("/orders/new").by_id("place-order")

    options: dict[str, list[list[str]]] = {}
    for select in form.all("select"):
        values = [o.attrs.get("value", o.text) for o in select.all("option")]
        options.setdefault(select.attrs["name"], []).append(values)
    assert options["style"] == [list(STYLES)] and options["flow"] == [list(FLOWS)]
    assert options["sku"] == [["", *[item["sku"] for item in shop.catalogue()]]] * 3
    assert set(forms.TOKENS) == set(options["token"][0])
    assert form_fields(form)["style"] == [shop.runtime.settings.style]
    # the workshop's customer (docs/workshop.md), so that a participant's orders look like its
    assert form_fields(form)["customer_id"] == ["c-42"]


def test_a_vip_order_from_the_form_is_delivered_and_invoiced(operator: Dashboard,
                                                             shop: Shop) -> None:
    order_id = operator.place(vip="on", token="tok_decline")

    order = shop.order(order_id)
    assert order["customer"]["vip"] is True and order["status"] == "delivered"
    page = operator.get(f"/orders/{order_id}")
    assert page.all("span", "vip")
    (invoice,) = shop.invoices(order_id)
    assert invoice["status"] == "open" and invoice["amount"] in page.by_id("invoices").text


INVALID_FORMS = {
    "empty name": ({"customer_name": ""}, ["customer.name"]),
    "quantity x": ({"quantity": ["x", "1", "1"]}, ["items.0.quantity"]),
    "unknown sku": ({"sku": ["sku-zzz", "", ""]}, ["items.0.sku"]),
    "no items": ({"sku": ["", "", ""]}, ["items"]),
    "superscript two": ({"quantity": ["\u00b2", "1", "1"]}, ["items.0.quantity"]),
    "a name and a quantity": ({"customer_name": " ", "quantity": ["0", "1", "1"]},
                              ["customer.name", "items.0.quantity"]),
}


@pytest.mark.parametrize("case", INVALID_FORMS)
def test_an_invalid_form_lists_each_problem_and_places_nothing(operator: Dashboard, shop: Shop,
                                                               case: str) -> None:
    changes, places = INVALID_FORMS[case]
    form = operator.get("/orders/new").by_id("place-order")

    response = operator.submit(form, **changes)

    assert response.status_code == 422
    page = parse(response.text)
    problems = problems_on(page)
    assert [problem.split(":")[0] for problem in problems] == places
    assert all(problem.split(":", 1)[1].strip() for problem in problems)  # what, after where
    assert all_orders(shop) == []
    kept = form_fields(page.by_id("place-order"))
    assert kept["address"] == [HOME] and kept["csrf_token"] == [operator.csrf]


# --- the order page -------------------------------------------------------------------------------
@EVERY_STYLE
def test_compensation_is_marked_on_the_timeline_and_boxed_in_the_diagram(
        operator: Dashboard, shop: Shop, style: str) -> None:
    order_id = shop.place(style=style, items=(("sku-1", 1), ("sku-none", 1)))
    assert status_of(shop, order_id) == ("cancelled", "out_of_stock")

    page = operator.get(f"/orders/{order_id}")

    rows = page.by_id("timeline").all("tr", "message")
    undoing = [row.attrs["data-type"] for row in rows if "compensation" in row.classes]
    assert "PaymentRefunded" in undoing
    assert set(undoing) <= {"RefundPayment", "PaymentRefunded", "ReleaseGoods", "GoodsReleased"}
    lines = sequence_lines(page.by_id("sequence").one("pre", "mermaid").text)
    refunds = [inside for inside, line in lines if "PaymentRefunded" in line]
    placed = [inside for inside, line in lines if line.endswith(": OrderPlaced")]
    assert refunds and all(refunds)
    assert placed and not any(placed)
    assert page.by_id("current-step").text == "cancelled (out_of_stock)"


@EVERY_STYLE
def test_a_parked_delivery_shows_a_cross_and_waits_for_an_operator(
        operator: Dashboard, shop: Shop, style: str) -> None:
    order_id = park(shop, style=style)

    page = operator.get(f"/orders/{order_id}")

    (message,) = [m["event"] for m in shop.timeline(order_id) for d in m["deliveries"]
                  if d["status"] == "parked"]
    arrow = "-x" if message["kind"] == "command" else "--x"
    crosses = [a for a in arrows(page.by_id("sequence").one("pre", "mermaid").text)
               if a[1].endswith("x")]
    assert crosses == [(message["source"].rsplit("/", 1)[-1], arrow, "payment",
                        short(message["type"]))]
    step = page.by_id("current-step").text
    assert step.startswith("waiting for an operator to retry")
    why = page.one("p", "why").text
    assert "tok_outage" in why and "app.modules" not in page.text and "when_asked" not in why
    assert page.text.count("payment provider unavailable") == 1  # the reason, once
    assert page.all("span", "stuck")


@EVERY_STYLE
def test_a_stuck_order_is_retried_from_its_own_page(operator: Dashboard, shop: Shop,
                                                    style: str) -> None:
    order_id = park(shop, style=style)
    (letter,) = shop.deadletters(order_id)

    retry = operator.get(f"/orders/{order_id}").one("form", "retry")
    assert retry.attrs["data-deadletter-id"] == str(letter["id"])
    response = operator.submit(retry)

    assert response.headers["Location"] == f"/orders/{order_id}"
    assert "was delivered again" in operator.follow(response).one("ul", "flash").text
    assert status_of(shop, order_id) == ("delivered", None)


def test_the_live_part_answers_204_until_something_changes(operator: Dashboard,
                                                           shop: Shop) -> None:
    order_id = shop.place(style="hybrid", token="tok_clarify")
    live = operator.get(f"/orders/{order_id}").by_id("live")
    assert live.attrs["hx-get"] == f"/orders/{order_id}/live"
    version = version_of(live)
    unchanged = operator.client.get(f"/orders/{order_id}/live?version={version}")
    assert (unchanged.status_code, unchanged.data) == (204, b"")

    shop.complete_task(order_id, "approved")

    changed = operator.client.get(f"/orders/{order_id}/live?version={version}")
    assert changed.status_code == 200
    fresh = parse(changed.text).by_id("live")
    assert fresh.by_id("order-status").attrs["data-status"] == "delivered"
    assert "hx-get" not in fresh.attrs  # finished and nothing left to deliver: no more polling
    assert not parse(changed.text).all("html")  # only the part that changes


def test_the_live_part_of_an_order_that_just_waits_is_not_redrawn_as_time_passes(
        operator: Dashboard, shop: Shop) -> None:
    order_id = shop.place(style="choreography", token="tok_clarify")
    version = version_of(operator.get(f"/orders/{order_id}").by_id("live"))

    for step in ("PT10S", "PT20M"):  # the task's age grows; nothing happens
        shop.pass_time(step)
        response = operator.client.get(f"/orders/{order_id}/live?version={version}")
        assert response.status_code == 204, step

    shop.pass_time("PT15M")  # now stuck: the badge appears once
    stuck = parse(operator.client.get(f"/orders/{order_id}/live?version={version}").text)
    assert stuck.by_id("live").all("span", "stuck")
    stuck_version = version_of(stuck.by_id("live"))
    shop.pass_time("PT5M")  # still stuck, for longer: the same page
    response = operator.client.get(f"/orders/{order_id}/live?version={stuck_version}")
    assert response.status_code == 204


def test_the_live_part_of_a_retrying_order_keeps_polling_with_a_new_version(
        operator: Dashboard, shop: Shop) -> None:
    order_id = shop.place(style="orchestration", token="tok_flaky")
    first = operator.get(f"/orders/{order_id}").by_id("live")
    assert "retrying after 1 failed attempt" in first.by_id("current-step").text

    shop.pass_time("PT1S")  # the provider fails again

    response = operator.client.get(f"/orders/{order_id}/live?version={version_of(first)}")
    live = parse(response.text).by_id("live")
    assert "retrying after 2 failed attempt" in live.by_id("current-step").text
    assert live.attrs["hx-get"] == first.attrs["hx-get"]
    assert version_of(live) != version_of(first)


def test_a_message_type_this_version_no_longer_has_is_still_shown(operator: Dashboard,
                                                                   shop: Shop) -> None:
    order_id = shop.place(style="hybrid")
    with shop.runtime.bus.db.session() as session:  # a row written by an older version
        session.execute(text("UPDATE bus_message SET type = 'orderflow.orders.OrderRetired' "
                             "WHERE flowid = :order AND seq = (SELECT MIN(seq) FROM bus_message "
                             "WHERE flowid = :order)"), {"order": order_id})
        session.commit()

    page = operator.get(f"/orders/{order_id}")

    (row,) = page.by_id("timeline").all("tr", data_type="OrderRetired")
    assert "compensation" not in row.classes
    assert ("orders", "-->>", "orders", "OrderRetired") in arrows(
        page.by_id("sequence").one("pre", "mermaid").text)


def test_an_unknown_order_is_a_404_page(operator: Dashboard) -> None:
    for path in ("/orders/ord_nobody", "/orders/ord_nobody/live"):
        response = operator.client.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html"
        assert problems_on(parse(response.text)) == ["there is no order 'ord_nobody'"]


# --- the orders list --------------------------------------------------------------------------
@pytest.fixture
def mixed(shop: Shop) -> dict[str, str]:
    """Orders of each style with different endings; the clarification has been silent 31 min."""
    orders = {"waiting": shop.place(style="choreography", token="tok_clarify"),
              "delivered": shop.place(style="orchestration"),
              "declined": shop.place(style="hybrid", token="tok_decline"),
              "waiting too": shop.place(style="hybrid", token="tok_clarify")}
    shop.pass_time("PT31M")
    orders["fresh"] = shop.place(style="choreography", token="tok_clarify")
    return orders


FILTERS = {
    "": ["fresh", "waiting too", "declined", "delivered", "waiting"],
    "status=payment_clarification": ["fresh", "waiting too", "waiting"],
    "style=choreography": ["fresh", "waiting"],
    "status=cancelled&style=hybrid": ["declined"],
    "stuck=on": ["waiting too", "waiting"],
    "stuck=true&style=choreography": ["waiting"],
    "stuck=on&status=payment_clarification&style=hybrid": ["waiting too"],
    "stuck=on&status=delivered": [],
}


def test_the_orders_list_filters_by_status_style_and_stuck(operator: Dashboard,
                                                          mixed: dict[str, str]) -> None:
    for query, names in FILTERS.items():  # one shop for all: placing orders is the slow part
        expected = [mixed[name] for name in names]
        assert operator.order_ids(f"/?{query}") == expected, query
        assert operator.order_ids(f"/orders/rows?{query}") == expected, query


def test_stuck_rows_are_flagged_and_the_filter_form_shows_the_choice(
        operator: Dashboard, mixed: dict[str, str]) -> None:
    stuck = {row.attrs["data-order-id"] for row in operator.get("/").all("tr", "stuck")}
    assert stuck == {mixed["waiting"], mixed["waiting too"]}

    filters = operator.get("/?stuck=on&style=hybrid").by_id("filters")
    assert form_fields(filters) == {"status": [""], "style": ["hybrid"], "stuck": ["on"]}


def test_the_rows_partial_is_the_list_alone_and_refreshes_with_its_filters(
        operator: Dashboard, mixed: dict[str, str]) -> None:
    response = operator.client.get("/orders/rows?style=choreography")

    assert response.status_code == 200 and response.text.lstrip().startswith("<div")
    part = parse(response.text).by_id("order-list")
    assert part.attrs["hx-get"] == "/orders/rows?style=choreography"
    assert part.by_id("order-rows") and not parse(response.text).all("html")
    full = operator.get("/?style=choreography").by_id("order-list")
    assert full.attrs["hx-get"] == part.attrs["hx-get"]


def test_a_refreshed_first_page_continues_after_its_own_last_row(
        operator: Dashboard, shop: Shop) -> None:
    """New orders push rows off page 1; its paging link must move with them, or the orders in
    between would be on neither page."""
    for _ in range(55):
        shop.place(style="hybrid")
    operator.get("/")  # what the browser shows first
    for _ in range(10):
        shop.place(style="hybrid")

    refreshed = parse(operator.client.get("/orders/rows").text)
    seen = [row.attrs["data-order-id"] for row in refreshed.all("tr", "order")]
    link = refreshed.by_id("next-page").attrs["href"]
    while link:
        page = operator.get(link)
        seen += [row.attrs["data-order-id"] for row in page.all("tr", "order")]
        links = page.all("a", id="next-page")
        link = links[0].attrs["href"] if links else ""

    assert sorted(seen) == sorted(all_orders(shop)) and len(seen) == len(set(seen)) == 65


def test_an_order_turns_stuck_on_the_list_after_the_configured_silence(
        make_app: Callable[..., Flask], clock: ManualClock) -> None:
    app = make_app(stuck_after=timedelta(minutes=10))
    shop, operator = Shop(app, clock), Dashboard(app)
    operator.login()
    waiting, done = shop.place(style="hybrid", token="tok_clarify"), shop.place(style="hybrid")
    assert operator.submit(operator.get("/").by_id("advance-clock"), by="PT9M").status_code == 303
    assert operator.get("/").all("tr", "stuck") == []

    assert operator.submit(operator.get("/").by_id("advance-clock"), by="PT2M").status_code == 303

    rows = {row.attrs["data-order-id"]: row.classes for row in operator.get("/").all("tr")
            if "data-order-id" in row.attrs}
    assert rows == {waiting: ["order", "stuck"], done: ["order"]}


def walk_pages(operator: Dashboard, path: str) -> tuple[list[str], int]:
    seen, pages = [], 0
    while path:
        page = operator.get(path)
        seen += [row.attrs["data-order-id"] for row in page.all("tr", "order")]
        links = page.all("a", id="next-page")
        path, pages = links[0].attrs["href"] if links else "", pages + 1
    return seen, pages


def test_the_next_page_links_walk_every_order_once_newest_first_keeping_the_filters(
        operator: Dashboard, shop: Shop) -> None:
    placed = [shop.place(style=STYLES[n % 3], token="tok_clarify" if n % 20 else "tok_ok")
              for n in range(PAGE_SIZE + 10)]  # mostly waiting: the cheapest orders to place
    delivered = placed[::20]
    waiting = [order_id for order_id in placed if order_id not in delivered]
    hybrid = placed[2::3]

    assert walk_pages(operator, "/") == (placed[::-1], 2)
    assert walk_pages(operator, "/?status=payment_clarification") == (waiting[::-1], 2)
    assert walk_pages(operator, "/?status=delivered") == (delivered[::-1], 1)
    assert walk_pages(operator, "/?style=hybrid") == (hybrid[::-1], 1)


BAD_FILTERS = {"status=lost": "status", "style=baroque": "style", "stuck=maybe": "stuck",
               "cursor=not-a-cursor": "cursor", "status=lost&style=baroque": "style"}


@pytest.mark.parametrize("query", BAD_FILTERS)
def test_a_bad_filter_is_a_400_that_names_it(operator: Dashboard, query: str) -> None:
    for path in (f"/?{query}", f"/orders/rows?{query}"):
        response = operator.client.get(path)
        assert response.status_code == 400, path
        (problem,) = problems_on(parse(response.text))
        assert BAD_FILTERS[query] in problem


# --- tasks ------------------------------------------------------------------------------------
def task_form(page: Node, order_id: str) -> Node:
    row = page.one("tr", "task", data_order_id=order_id)
    return row.one("form", "task-actions")


@pytest.mark.parametrize(("outcome", "ending"), [("approved", ("delivered", None)),
                                                 ("declined", ("cancelled", "payment_declined"))])
def test_a_task_answered_from_the_inbox_lets_the_order_go_on(
        operator: Dashboard, shop: Shop, outcome: str, ending: tuple[str, str | None]) -> None:
    order_id = shop.place(style="orchestration", token="tok_clarify")
    form = task_form(operator.get("/tasks"), order_id)

    response = operator.submit(form, outcome=outcome, note="called the customer")

    assert response.headers["Location"] == "/tasks"
    inbox = operator.follow(response)
    assert inbox.all("tr", "task") == []
    assert f"order {order_id} goes on" in inbox.one("ul", "flash").text
    assert status_of(shop, order_id) == ending
    (task,) = shop.tasks(order_id, status=outcome)
    assert task["note"] == "called the customer"


def test_a_task_answered_on_the_order_page_comes_back_to_it(operator: Dashboard,
                                                            shop: Shop) -> None:
    order_id = shop.place(style="choreography", flow="parallel", token="tok_clarify")
    form = operator.get(f"/orders/{order_id}").by_id("tasks").one("form", "task-actions")

    response = operator.submit(form, outcome="approved")

    assert response.headers["Location"] == f"/orders/{order_id}"
    page = operator.follow(response)
    assert page.by_id("order-status").attrs["data-status"] == "delivered"


def test_the_task_form_in_the_refreshed_live_part_still_comes_back_to_the_order_page(
        operator: Dashboard, shop: Shop) -> None:
    order_id = shop.place(style="hybrid", token="tok_clarify")

    live = parse(operator.client.get(f"/orders/{order_id}/live").text)

    form = live.by_id("tasks").one("form", "task-actions")
    assert form_fields(form)["back"] == [f"/orders/{order_id}"]


def test_answering_a_closed_task_is_a_409_page(operator: Dashboard, shop: Shop) -> None:
    order_id = shop.place(style="hybrid", token="tok_clarify")
    form = task_form(operator.get("/tasks"), order_id)
    operator.submit(form, outcome="declined")

    response = operator.submit(form, outcome="approved")

    assert response.status_code == 409
    (problem,) = problems_on(parse(response.text))
    assert "only an open task can be completed" in problem
    assert status_of(shop, order_id) == ("cancelled", "payment_declined")


@pytest.mark.parametrize("back", ["//evil.example/tasks", "https://evil.example",
                                  "/\t/evil.example", ""])
def test_after_an_answer_the_page_goes_back_only_on_this_site(
        operator: Dashboard, shop: Shop, back: str) -> None:
    order_id = shop.place(style="hybrid", token="tok_clarify")
    form = task_form(operator.get("/tasks"), order_id)

    response = operator.submit(form, outcome="approved", back=back)

    assert (response.status_code, browser_reading(response.headers["Location"])) == (
        303, "/tasks")


def test_a_task_answer_without_an_outcome_is_a_400(operator: Dashboard, shop: Shop) -> None:
    order_id = shop.place(style="hybrid", token="tok_clarify")
    form = task_form(operator.get("/tasks"), order_id)

    response = operator.submit(form, outcome="maybe")

    assert response.status_code == 400
    assert "outcome" in problems_on(parse(response.text))[0]
    assert shop.tasks(order_id)  # still open


# --- dead letters -----------------------------------------------------------------------------
@EVERY_STYLE
def test_a_dead_letter_is_listed_with_its_error_and_a_retry_continues_the_order(
        operator: Dashboard, shop: Shop, style: str) -> None:
    order_id = park(shop, style=style)
    (letter,) = shop.deadletters(order_id)

    row = operator.get("/deadletters").one("tr", "deadletter", data_order_id=order_id)
    assert row.attrs["data-deadletter-id"] == str(letter["id"])
    assert "tok_outage" in row.one("td", "error").text
    response = operator.submit(row.one("form"))

    assert response.headers["Location"] == "/deadletters"
    page = operator.follow(response)
    assert f"delivery {letter['id']} was delivered again: the order goes on" in \
        page.one("ul", "flash").text
    assert page.all("tr", "deadletter") == []
    assert status_of(shop, order_id) == ("delivered", None)


@EVERY_STYLE
def test_a_parked_webhook_is_retried_from_the_dead_letter_page(operator: Dashboard, shop: Shop,
                                                               style: str) -> None:
    with Receiver() as receiver:
        receiver.subscribe(shop.client)
        receiver.answer_next(*[FAIL] * MAX_AUTOMATIC_ATTEMPTS)
        order_id = shop.place(style=style)
        shop.settle()
        pass_time_until(shop, lambda: shop.deadletters(order_id))
        (letter,) = shop.deadletters(order_id)

        row = operator.get("/deadletters").one("tr", "deadletter", data_order_id=order_id)
        assert "answered 500" in row.one("td", "error").text
        page = operator.follow(operator.submit(row.one("form")))

        assert f"delivery {letter['id']} was delivered again: the order goes on" in \
        page.one("ul", "flash").text
        assert page.all("tr", "deadletter") == []
        assert_heard_each_change_once(shop, receiver, order_id)
        assert status_of(shop, order_id) == ("delivered", None)


def test_retrying_a_delivery_that_is_not_parked_is_refused(operator: Dashboard,
                                                          shop: Shop) -> None:
    order_id = park(shop)
    form = operator.get("/deadletters").one("tr", "deadletter").one("form")
    operator.submit(form)

    again = operator.submit(form)
    unknown = operator.post("/deadletters/987654/retry")

    assert again.status_code == 409 and "not parked" in problems_on(parse(again.text))[0]
    assert unknown.status_code == 404
    assert status_of(shop, order_id) == ("delivered", None)


@pytest.mark.parametrize("after", ["-1", "x", "1e3"])
def test_a_bad_dead_letter_page_is_a_400(operator: Dashboard, after: str) -> None:
    response = operator.client.get(f"/deadletters?after={after}")

    assert response.status_code == 400
    assert "after" in problems_on(parse(response.text))[0]


# --- invoices ---------------------------------------------------------------------------------
def test_a_vip_invoice_is_paid_from_the_order_page(operator: Dashboard, shop: Shop) -> None:
    order_id = operator.place(vip="on")
    form = operator.get(f"/orders/{order_id}").by_id("invoices").one("form")

    response = operator.submit(form)

    assert response.headers["Location"] == f"/orders/{order_id}"
    page = operator.follow(response)
    assert [invoice["status"] for invoice in shop.invoices(order_id)] == ["paid"]
    assert page.by_id("invoices").all("form") == []
    assert "paid" in page.by_id("invoices").one("strong").text
    assert operator.submit(form).status_code == 409  # once only


# --- the clock --------------------------------------------------------------------------------
def clock_now(shop: Shop) -> str:
    return shop.client.get("/api/clock").get_json()["now"]


def test_the_clock_form_moves_the_manual_clock_and_comes_back(operator: Dashboard,
                                                              shop: Shop) -> None:
    form = operator.get("/tasks").by_id("advance-clock")
    assert form_fields(form)["back"] == ["/tasks"]

    response = operator.submit(form, by="PT90M")

    assert response.headers["Location"] == "/tasks"
    assert clock_now(shop) == "2026-01-05T10:30:00+00:00"
    assert shop.clock.now().isoformat() == "2026-01-05T10:30:00+00:00"


def test_advancing_the_clock_fires_the_deadlines_that_fall_due(operator: Dashboard,
                                                              shop: Shop) -> None:
    order_id = shop.place(style="choreography", token="tok_clarify")

    response = operator.submit(operator.get("/").by_id("advance-clock"), by="P8D")

    assert "1 deadline(s) fired" in operator.follow(response).one("ul", "flash").text
    assert status_of(shop, order_id) == ("cancelled", "price_hold_expired")


@pytest.mark.parametrize("by", ["soon", "P0D", "-P1D", "P4000D", ""])
def test_a_bad_duration_is_a_400_and_the_clock_stays(operator: Dashboard, shop: Shop,
                                                     by: str) -> None:
    before = clock_now(shop)

    response = operator.post("/clock/advance", {"by": by})

    assert response.status_code == 400
    assert problems_on(parse(response.text))[0].startswith("by:")
    assert clock_now(shop) == before


def test_a_refused_clock_step_is_explained_in_words_not_in_the_machines(
        operator: Dashboard, shop: Shop) -> None:
    page = parse(operator.post("/clock/advance", {"by": "soon"}).text)

    assert page.one("h1").text.split("(")[0].strip() == "Check what you entered"
    (problem,) = problems_on(page)
    assert problem.startswith("by: ") and "Value error" not in problem, problem



# --- wiring -----------------------------------------------------------------------------------
def coupling_table(page: Node, style: str) -> dict[str, dict[str, list[str]]]:
    table, cells = page.by_id(f"coupling-{style}"), {}
    for row in table.all("tr"):
        if "data-module" not in row.attrs:
            continue
        module = row.attrs["data-module"]
        others = [m for m in MODULE_ORDER if m != module]
        tds = [td for td in row.all("td") if "self" not in td.classes][: len(others)]
        cells[module] = {other: [t.strip() for t in td.text.split(",") if t.strip()]
                         for other, td in zip(others, tds, strict=True)}
    return cells


def test_the_wiring_page_is_public_and_shows_each_style(visitor: Dashboard, app: Flask) -> None:
    page = visitor.get("/wiring")
    live = app.extensions["orderflow"].bus.wiring

    for style in STYLES:
        section = page.by_id(f"wiring-{style}")
        assert section.one("pre", "mermaid").text.startswith("flowchart LR")
        expected = {module: {other: live.coupling(style).get(module, {}).get(other, [])
                             for other in MODULE_ORDER if other != module}
                    for module in MODULE_ORDER}
        assert coupling_table(page, style) == expected


def test_the_coupling_shows_who_must_know_whose_messages(visitor: Dashboard) -> None:
    page = visitor.get("/wiring")

    choreography, orchestration = (coupling_table(page, s)
                                   for s in ("choreography", "orchestration"))
    assert "OrderPlaced" in choreography["payment"]["orders"]
    assert all(known == [] for known in orchestration["payment"].values())
    assert "RetrievePayment" in orchestration["orders"]["payment"]


def test_each_flowchart_names_every_module_and_every_message_listened_to(
        visitor: Dashboard, app: Flask) -> None:
    page = visitor.get("/wiring")
    live = app.extensions["orderflow"].bus.wiring

    for style in STYLES:
        flowchart = page.by_id(f"wiring-{style}").one("pre", "mermaid").text
        names = set(re.findall(r"\w+", flowchart))
        heard = {short(row["signal"]) for row in live.subscriptions(style)}
        assert set(MODULE_ORDER) <= names and heard <= names, style
    choreography = page.by_id("wiring-choreography").one("pre", "mermaid").text
    assert "RetrievePayment" not in choreography  # no commands: nobody tells payment to act


def test_the_wiring_page_says_who_had_to_learn_about_vip_customers(visitor: Dashboard) -> None:
    page = visitor.get("/wiring")

    knows = {p.attrs["data-style"]: p.one("strong").text for p in page.all("p", "vip-knowledge")}
    assert knows["choreography"] == "orders, payment, inventory, shipping"
    assert knows["orchestration"] == "orders"


# --- headers and static files -----------------------------------------------------------------
def test_every_dashboard_response_says_how_long_it_took(world: World, operator: Dashboard,
                                                        visitor: Dashboard) -> None:
    shop = world.shop
    version = version_of(operator.get(f"/orders/{world.waiting}").by_id("live"))
    responses = [operator.client.get(path) for path in (
        "/", "/orders/rows", "/orders/new", "/tasks", "/deadletters", "/wiring",
        f"/orders/{world.waiting}", f"/orders/{world.waiting}/live", "/?status=lost",
        f"/orders/{world.waiting}/live?version={version}", "/orders/ord_nobody")]
    responses += [visitor.client.get("/tasks"), visitor.client.get("/login"),
                  visitor.client.post("/clock/advance"), operator.post("/clock/advance"),
                  operator.post("/orders", {"customer_name": ""}),
                  visitor.client.get("/static/vendor/htmx/htmx.min.js")]

    assert {r.status_code for r in responses} == {200, 204, 303, 400, 401, 404, 422}
    for response in responses:
        assert re.fullmatch(r"app;dur=\d+(\.\d+)?", response.headers["Server-Timing"])
    assert status_of(shop, world.waiting) == ("payment_clarification", None)


@pytest.mark.parametrize("library", ["htmx", "mermaid"])
def test_the_vendored_scripts_are_served_with_their_licences(visitor: Dashboard,
                                                             library: str) -> None:
    path = f"/static/vendor/{library}/{library}.min.js"
    script = next(node for node in visitor.get("/wiring").all("script")
                  if node.attrs.get("src") == path)

    response = visitor.client.get(script.attrs["src"])

    assert response.status_code == 200 and "javascript" in response.mimetype
    assert len(response.data) > 10_000
    assert hashlib.sha256(response.data).hexdigest() in VENDOR_README.read_text()
    licence = (STATIC / "vendor" / library / "LICENSE").read_text()
    assert LICENCES[library] in licence and "Permission" in licence


def test_a_live_refresh_after_the_session_ended_sends_the_browser_to_the_login(
        client: Any) -> None:
    for path in ("/orders/rows", "/orders/ord_missing/live"):
        response = client.get(path, headers={"HX-Request": "true"})

        assert response.status_code == 401
        assert response.headers["HX-Redirect"] == "/login"
        assert b"<table" not in response.data  # nothing for htmx to swap into the page


def test_the_login_page_says_when_nobody_can_log_in(
        make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(tmp_path))
    page = make_app(admin_token=None).test_client().get("/login")

    assert page.status_code == 200
    assert b"no admin token is configured" in page.data


def test_a_page_answering_a_post_sends_the_clock_form_back_to_the_default(
        operator: Dashboard) -> None:
    form = operator.get("/orders/new").by_id("place-order")
    refused = parse(operator.submit(form, customer_name="").text)  # the 422 page of POST /orders

    clock_form = refused.by_id("advance-clock")
    assert "back" not in form_fields(clock_form)  # /orders answers only POST


def test_a_dead_letter_past_the_largest_id_is_a_404_page(operator: Dashboard) -> None:
    response = operator.post("/deadletters/99999999999999999999/retry")
    assert response.status_code == 404


# --- the session's key and what the cookie carries ----------------------------------------------
def test_a_cookie_that_merely_says_admin_is_not_a_login(visitor: Dashboard) -> None:
    with visitor.client.session_transaction() as cookie:
        cookie["admin"] = True  # what a forger would write, had they the signing key

    assert visitor.client.get("/").status_code == 303


def test_a_new_admin_token_ends_every_session(make_app: Callable[..., Flask]) -> None:
    shared = {"secret_key": "k" * 40}
    before = Dashboard(make_app(admin_token="first-admin-token-0001", **shared))
    assert before.login(token="first-admin-token-0001").status_code == 303
    cookie = before.client.get_cookie("orderflow_session")
    assert cookie is not None and "first-admin-token-0001" not in cookie.value

    after = Dashboard(make_app(admin_token="second-admin-token-002", **shared)).client
    after.set_cookie(cookie.key, cookie.value)
    assert after.get("/").status_code == 303
    assert before.client.get("/").status_code == 200  # the first app still knows it


def test_the_session_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    import stat

    from app import secret_key
    from app.config import Settings

    first = secret_key(Settings(), str(tmp_path))
    assert len(first) == 64 and secret_key(Settings(), str(tmp_path)) == first
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [tmp_path / "secret_key"]  # no draft left behind
    assert secret_key(Settings(secret_key="s" * 32), str(tmp_path)) == "s" * 32


def test_a_short_secret_key_stops_start_up_naming_the_variable() -> None:
    from app.config import ConfigError, from_environment

    with pytest.raises(ConfigError, match="ORDERFLOW_SECRET_KEY"):
        from_environment({"ORDERFLOW_SECRET_KEY": "too-short"})


def test_a_nul_in_a_form_is_a_400_and_places_nothing(operator: Dashboard, shop: Shop) -> None:
    form = operator.get("/orders/new").by_id("place-order")

    response = operator.submit(form, customer_name="Ada\x00")

    assert response.status_code == 400 and all_orders(shop) == []


@EVERY_STYLE
def test_the_order_page_says_what_was_charged_and_given_back(operator: Dashboard, shop: Shop,
                                                             style: str) -> None:
    delivered = shop.place(style=style)
    refunded = shop.place(style=style, address="1 UNDELIVERABLE Road")
    declined = shop.place(style=style, token="tok_decline")
    total = shop.order(delivered)["total"]

    def money(order_id: str) -> str:
        return " ".join(operator.get(f"/orders/{order_id}").by_id("money").text.split())

    assert f"{total} by card: charged" in money(delivered) and "given back" not in money(delivered)
    assert f"{total} by card: charged, then given back" in money(refunded)
    assert f"{total} given back" in money(refunded)
    assert "declined: nothing charged (card declined)" in money(declined)
