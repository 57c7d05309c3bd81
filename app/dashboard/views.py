"""The dashboard's pages. Each reads and acts through the same functions as the JSON API
(``orders_page``, ``place``, ``complete``, ``retry``...), so a page can never disagree with it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from app.config import FLOWS, STYLES
from app.dashboard import diagrams, forms, session, steps
from app.dashboard.steps import current_step
from app.http import operations
from app.http.errors import ApiError
from app.http.formats import runtime, span
from app.modules.inventory import api as inventory_api
from app.modules.orders import api as orders_api
from app.modules.orders.models import STATUSES, TERMINAL
from app.modules.payment import api as payment_api
from app.wiring_report import modules_reading

blueprint = Blueprint("dashboard", __name__, template_folder="templates")
Query = TypeVar("Query", bound=BaseModel)


@blueprint.before_request
def _forms_need_a_login_and_their_token() -> None:
    if request.method == "POST":
        session.check_form()


def operator_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages that show customers or act for the shop: a visitor is sent to the login."""
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if session.logged_in():
            return view(*args, **kwargs)
        if request.headers.get("HX-Request"):  # a refresh after logging out: leave the page
            return Response(status=401, headers={"HX-Redirect": url_for("dashboard.login")})
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")), 303)
    return guarded


# what an operator's retry led to, in words (the delivery's status right after it)
RETRIED = {"done": "was delivered again: the order goes on",
           "pending": "is queued again and is delivered in a moment",
           "failed": "failed again and is tried once more later",
           "parked": "failed again and stays parked"}
# what became of a payment, for a shop owner (payment's statuses)
CHARGE_WORDS = {"received": "charged", "refunded": "charged, then given back",
                "declined": "declined: nothing charged", "cancelled": "not charged",
                "clarification": "held until the call centre answers",
                "reviewing": "being confirmed with the provider"}
# a refusal's heading, for people (the status code stays beside it)
REFUSED = {400: "Check what you entered", 401: "Log in first", 403: "Not allowed",
           404: "Not found", 409: "Not possible any more", 422: "Check what you entered",
           429: "Too many attempts: wait a moment", 503: "The database is not answering"}


@blueprint.errorhandler(ApiError)
def _refused(error: ApiError) -> tuple[str, int]:
    return render_template("dashboard/error.html", status=error.status,
                           heading=REFUSED.get(error.status, "That did not work"),
                           message=error.message), error.status


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return render_template("dashboard/error.html", status=status,
                           message=error.description), status


# --- login ------------------------------------------------------------------------------------
@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = _local(request.values.get("next", ""))
    if request.method == "GET":
        return render_template("dashboard/login.html", next=target, error=_no_token())
    if session.log_in(request.form.get("token", "")):
        return redirect(target or url_for("dashboard.orders"), 303)
    message = _no_token() or "that is not the admin token"
    return render_template("dashboard/login.html", next=target, error=message), 401


def _no_token() -> str | None:
    if runtime().admin_token:
        return None
    return ("no admin token is configured, so nobody can log in: set ORDERFLOW_ADMIN_TOKEN or "
            "run `flask --app wsgi orderflow init`")


@blueprint.post("/logout")
def logout() -> Response:
    session.log_out()
    return redirect(url_for("dashboard.login"), 303)


def _local(target: str) -> str:
    """Only a path on this site: never send someone elsewhere after logging in. Browsers drop
    tabs and newlines from a Location and read a backslash as a slash, so ``/\t/evil.example``
    would leave the site: a target with either is refused."""
    if not target.isprintable() or "\\" in target:
        return ""
    return target if target.startswith("/") and not target.startswith("//") else ""


# --- orders -----------------------------------------------------------------------------------
@blueprint.get("/")
@operator_only
def orders() -> str:
    query = _orders_query()
    return render_template("dashboard/orders.html", page=orders_api.orders_page(query),
                           query=query, filters=_filters(), statuses=STATUSES, styles=STYLES,
                           rows_url=url_for("dashboard.order_rows", **_filters()))


@blueprint.get("/orders/rows")
@operator_only
def order_rows() -> str:
    """The table and its paging link, for htmx to refresh every two seconds."""
    page = orders_api.orders_page(_orders_query())
    return render_template("dashboard/_order_list.html", page=page,
                           rows_url=url_for("dashboard.order_rows", **_filters()))


def _filters() -> dict[str, str]:
    wanted = ("status", "style", "stuck", "cursor")
    return {key: value for key, value in request.args.items() if key in wanted and value}


def _orders_query() -> orders_api.OrderListQuery:
    return _valid(orders_api.OrderListQuery, _filters())


def _valid(model: type[Query], values: dict[str, Any]) -> Query:
    """A page's query string checked like the API's: a bad value is a 400 that names it."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        abort(400, "; ".join(forms.problems(error)))


def next_page_url(cursor: str) -> str:
    return "/?" + urlencode({**_filters(), "cursor": cursor})


# --- one order --------------------------------------------------------------------------------
@blueprint.get("/orders/<order_id>")
@operator_only
def order(order_id: str) -> str:
    return render_template("dashboard/order.html", **_order_page(order_id))


@blueprint.get("/orders/<order_id>/live")
@operator_only
def order_live(order_id: str) -> Any:
    """The part of the order page that changes; 204 (htmx keeps what it has) when nothing
    did, so the diagram is not redrawn every two seconds."""
    page = _order_page(order_id)
    if request.args.get("version") == page["version"]:
        return Response(status=204)
    return render_template("dashboard/_order_live.html", **page)


def _order_page(order_id: str) -> dict[str, Any]:
    view = orders_api.read(order_id)
    messages = orders_api.timeline(order_id)["messages"]
    tasks = payment_api.tasks_page(payment_api.TaskQuery(order_id=order_id))["items"]
    invoices = payment_api.invoices_of(order_id)["items"]
    money = payment_api.payments_of(order_id)
    waiting = any(d["status"] != "done" for m in messages for d in m["deliveries"])
    return {"order": view, "messages": messages, "tasks": tasks, "invoices": invoices,
            "money": money, "charge_words": CHARGE_WORDS,
            "step": current_step(view, messages, tasks),
            "sequence": "" if view["history"]["archived"] else diagrams.sequence(messages),
            "undoes": diagrams.undoes,
            "live": view["status"] not in TERMINAL or waiting,
            "version": _version(view, messages, tasks, invoices)}


def _version(order: dict[str, Any], messages: list[dict[str, Any]],
             tasks: list[dict[str, Any]], invoices: list[dict[str, Any]]) -> str:
    """What changes only when something happens: never an age or an elapsed time, or the live
    part would be redrawn (and a half-typed task note lost) while the order just waits."""
    stuck = order["stuck"]
    state = (order["status"], order["updated_at"],
             [(d["name"], d["status"]) for d in order["deadlines"]],
             stuck and ([d["id"] for d in stuck["deadletters"]], stuck["failed_deadlines"]),
             [(m["seq"], [(d["receiver"], d["status"], d["attempts"]) for d in m["deliveries"]])
              for m in messages],
             [(t["id"], t["status"]) for t in tasks], [(i["id"], i["status"]) for i in invoices])
    return hashlib.sha256(repr(state).encode()).hexdigest()[:16]


# --- placing an order -------------------------------------------------------------------------
@blueprint.get("/orders/new")
@operator_only
def new_order() -> str:
    return _order_form(forms.DEFAULTS, [])


@blueprint.post("/orders")
def place_order() -> Any:
    try:
        order_id = orders_api.place(forms.order_request(request.form))
    except forms.Invalid as invalid:
        return _order_form(request.form, invalid.problems), 422
    except ApiError as refused:
        return _order_form(request.form, forms.refusal(refused)), refused.status
    flash(f"order {order_id} placed")
    return redirect(url_for("dashboard.order", order_id=order_id), 303)


def _order_form(values: Any, problems: list[str]) -> str:
    return render_template("dashboard/new_order.html", values=values, problems=problems,
                           catalogue=inventory_api.list_catalog()["items"], styles=STYLES,
                           flows=FLOWS, tokens=forms.TOKENS,
                           default_style=runtime().settings.style,
                           default_flow=runtime().settings.flow)


# --- tasks, dead letters, invoices, the clock -------------------------------------------------
@blueprint.get("/tasks")
@operator_only
def tasks() -> str:
    query = _valid(payment_api.TaskQuery, {"cursor": request.args.get("cursor") or None})
    return render_template("dashboard/tasks.html", page=payment_api.tasks_page(query))


@blueprint.post("/tasks/<task_id>/complete")
def complete_task(task_id: str) -> Response:
    answer = forms.task_answer(request.form)
    task = payment_api.complete(task_id, answer)
    flash(f"task {task_id} {task['status']}: order {task['order_id']} goes on")
    return _back("dashboard.tasks")


@blueprint.get("/deadletters")
@operator_only
def dead_letters() -> str:
    query = _valid(operations.DeadLetterQuery, {"after": request.args.get("after") or None})
    page = operations.dead_letters_page(query)
    return render_template("dashboard/deadletters.html", page=page)


@blueprint.post("/deadletters/<int:delivery_id>/retry")
def retry_dead_letter(delivery_id: int) -> Response:
    outcome = operations.retry(delivery_id)
    flash(f"delivery {delivery_id} {RETRIED[outcome['status']]}")
    return _back("dashboard.dead_letters")


@blueprint.post("/invoices/<invoice_id>/pay")
def pay_invoice(invoice_id: str) -> Response:
    invoice = payment_api.pay(invoice_id)
    flash(f"invoice {invoice_id} {invoice['status']}")
    return _back("dashboard.order", order_id=invoice["order_id"])


@blueprint.post("/clock/advance")
def advance_clock() -> Response:
    outcome = operations.advance(forms.duration(request.form))
    flash(f"the clock now says {outcome['now']}; {outcome['deadlines_fired']} deadline(s) "
          "fired")
    return _back("dashboard.orders")


def _back(endpoint: str, **values: Any) -> Response:
    """Where the form asked to go back to (a path on this site), else ``endpoint``."""
    return redirect(_local(request.form.get("back", "")) or url_for(endpoint, **values), 303)


# --- wiring -----------------------------------------------------------------------------------
@blueprint.get("/wiring")
def wiring() -> str:
    """Public: it shows code, not customers."""
    live = runtime().bus.wiring
    styles = [{"name": style, "diagram": diagrams.wiring(live, style),
               "matrix": diagrams.coupling_matrix(live, style),
               "subscriptions": live.subscriptions(style),
               "knows_vip": modules_reading(live, style, "vip")} for style in live.styles]
    return render_template("dashboard/wiring.html", styles=styles,
                           modules=diagrams.MODULE_ORDER)


@blueprint.app_context_processor
def _everywhere() -> dict[str, Any]:
    clock = runtime().bus.clock
    now = clock.now()
    return {"logged_in": session.logged_in(), "manual_clock": hasattr(clock, "advance"),
            "now": now, "next_page_url": next_page_url, "short": diagrams.short,
            "plain": steps.plain,
            "age": lambda moment: span(now - datetime.fromisoformat(moment)),
            "when": lambda moment: moment[:19].replace("T", " ") if moment else ""}
