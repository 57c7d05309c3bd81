"""What the browser tests set up and check through the JSON API (the dashboard is what they
drive; the API is the independent witness of what changed)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import APIResponse, Page

from tests.e2e.test_server import ADMIN, OUTCOME_TIMEOUT, call, poll

__all__ = ["ADMIN", "OUTCOME_TIMEOUT", "dead_letters", "open_tasks", "parked_letter",
           "post_form", "task_of"]


def open_tasks(url: str, order_id: str) -> list[dict[str, Any]]:
    status, body = call("GET", f"{url}/api/tasks?order_id={order_id}", token=ADMIN)
    assert status == 200, body
    return body["items"]


def task_of(url: str, order_id: str) -> dict[str, Any]:
    """The open clarification task of an order, once payment has opened it."""
    tasks = poll(lambda: open_tasks(url, order_id), timeout=OUTCOME_TIMEOUT,
                 what=f"a clarification task for {order_id}")
    assert len(tasks) == 1, tasks
    return tasks[0]


def dead_letters(url: str, order_id: str) -> list[dict[str, Any]]:
    status, body = call("GET", f"{url}/api/deadletters?order_id={order_id}", token=ADMIN)
    assert status == 200, body
    return body["items"]


def parked_letter(url: str, order_id: str) -> dict[str, Any]:
    """The delivery of an order that used up its automatic retries and was parked."""
    letters = poll(lambda: dead_letters(url, order_id), timeout=OUTCOME_TIMEOUT,
                   what=f"a dead letter for {order_id}")
    assert len(letters) == 1, letters
    return letters[0]


def post_form(page: Page, path: str, form: dict[str, str]) -> APIResponse:
    """A form POST with the page's cookies (so with its login, if it has one), redirects not
    followed: what a hand-made or cross-site form would send."""
    return page.request.post(path, form=form, max_redirects=0)
