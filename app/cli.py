"""``flask --app wsgi orderflow ...`` or, once installed, ``orderflow ...``."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo, with_appcontext

from app import schema, wiring_report
from app import simulate as simulation
from app.bus import time_check
from app.clock import format_duration

SHIFT_MARGIN_SECONDS = 1  # shifted a little further, so the newest message is just behind now

@click.group("orderflow")
def orderflow() -> None:
    """orderflow: order fulfilment in choreography, orchestration or hybrid style."""


def _runtime():  # type: ignore[no-untyped-def]
    return current_app.extensions["orderflow"]


@orderflow.command("migrate")
@with_appcontext
def migrate() -> None:
    """Apply the database migrations (safe to run again)."""
    schema.upgrade(str(_runtime().bus.db.engine.url.render_as_string(hide_password=False)))
    click.echo("database is up to date")


@orderflow.command("init")
@with_appcontext
def init() -> None:
    """Migrate, load the demo catalogue into an empty database, and make an admin token."""
    from app.modules.inventory.demo import ensure_demo_catalogue

    runtime = _runtime()
    schema.upgrade(runtime.bus.db.engine.url.render_as_string(hide_password=False))
    try:
        runtime.check_the_clock()
    except time_check.ClockBehind as error:
        raise click.ClickException(str(error)) from None
    added = ensure_demo_catalogue(runtime.bus.db, runtime.bus.clock.now())
    click.echo(f"demo catalogue: {added} items added" if added else "catalogue already loaded")
    _ensure_admin_token(current_app)


def _ensure_admin_token(app: Flask) -> None:
    from app import ADMIN_TOKEN_FILE, write_secret_once

    runtime = app.extensions["orderflow"]
    if runtime.settings.admin_token:
        click.echo("admin token: from ORDERFLOW_ADMIN_TOKEN")
        return
    stored = runtime.data_dir / ADMIN_TOKEN_FILE
    made_now = not stored.exists()
    token = write_secret_once(stored, secrets.token_urlsafe(24))  # two inits agree on one
    if made_now or sys.stdout.isatty():
        click.echo(f"admin token (stored in {stored}): {token}")
    else:  # a container's later starts: the token stays out of the logs they keep
        click.echo(f"admin token: stored in {stored} (made at the first start; not shown again)")


@orderflow.command("wiring")
@click.option("--style", type=click.Choice(["choreography", "orchestration", "hybrid"]))
@click.option("--write", "target", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Update the tables between the wiring markers of this Markdown file.")
@with_appcontext
def wiring(style: str | None, target: Path | None) -> None:
    """Print who listens to what, per style, read from the live blinker signals."""
    live = _runtime().bus.wiring
    if target is None:
        click.echo(wiring_report.markdown(live, [style] if style else None))
        return
    changed = wiring_report.write_into(target, live)
    click.echo(f"{target}: wiring tables {'updated' if changed else 'already current'}")


@orderflow.command("advance")
@click.argument("duration")
@with_appcontext
def advance(duration: str) -> None:
    """Move the manual clock forward (ORDERFLOW_CLOCK=manual) by an ISO-8601 DURATION such as
    P7D or PT1H (at most P3660D), and fire the deadlines that fall due. Running servers see the
    new time at once; what the deadlines cause is delivered by them."""
    from app.clock import parse_duration

    runtime = _runtime()
    clock = runtime.bus.clock
    if not hasattr(clock, "advance"):
        raise click.UsageError("the clock follows the system time; set ORDERFLOW_CLOCK=manual "
                               "(for this command and the server) to move it")
    try:
        step = parse_duration(duration)
        if step.total_seconds() <= 0:
            raise ValueError("move the clock forward by more than nothing")
        now = clock.advance(step)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="DURATION") from None
    fired = runtime.bus.fire_due_deadlines()
    runtime.bus.dispatcher.tick()
    click.echo(f"now {now.isoformat()}; {fired} deadline(s) fired")


@orderflow.group("clock")
def clock_group() -> None:
    """The shop's clock against the times its database recorded."""


@clock_group.command("status")
@with_appcontext
def clock_status() -> None:
    """Say which clock runs, what time it is, and how far ahead the message log is."""
    runtime = _runtime()
    now, newest = runtime.bus.clock.now(), time_check.newest_recorded(runtime.bus.db)
    kind = "manual" if hasattr(runtime.bus.clock, "advance") else "system"
    click.echo(f"clock: {kind}, now {now.isoformat(timespec='seconds')}")
    if newest is None:
        click.echo("message log: empty")
        return
    ahead = time_check.ahead_of(runtime.bus.db, now)
    click.echo(f"newest message: {newest.isoformat(timespec='seconds')}"
               + (f" ({time_check.readable(ahead)} ahead of the clock)"
                  if ahead else ""))


@clock_group.command("shift")
@click.option("--yes", is_flag=True, help="Do it without asking.")
@with_appcontext
def clock_shift(yes: bool) -> None:
    """Move every time the shop recorded back by how far its message log is ahead of the
    system clock (after a workshop moved the manual clock forward), and clear the manual
    clock's offset. Stop the servers first."""
    from sqlmodel import SQLModel

    from app.clock import SystemClock
    from app.modules.registry import load_models

    runtime = _runtime()
    ahead = time_check.ahead_of(runtime.bus.db, SystemClock().now())
    if not ahead:
        click.echo("the message log is not ahead of the system clock: nothing to shift")
        return
    if not yes:
        click.confirm(f"move every recorded time back by "
                      f"{time_check.readable(ahead)}?", abort=True)
    load_models()
    by = time_check.whole_seconds(ahead) + timedelta(seconds=SHIFT_MARGIN_SECONDS)  # past it
    changed = time_check.shift_back(
        runtime.bus.db, SQLModel.metadata.sorted_tables, by,
        progress=lambda table, rows: rows and click.echo(f"  {table}: {rows} rows"))
    click.echo(f"shifted {changed} rows back by {format_duration(by)}; start the shop on the "
               "system clock")


@orderflow.command("demo")
@click.option("--style", "styles", multiple=True,
              type=click.Choice(["choreography", "orchestration", "hybrid"]),
              help="Only these styles (default: all three).")
def demo(styles: tuple[str, ...]) -> None:
    """Place one order per ending in each style (inline dispatch, a throw-away database) and
    print each order's path through the modules."""
    from app import demo as demo_run

    demo_run.run(styles or ("choreography", "orchestration", "hybrid"), click.echo)


@orderflow.command("compare")
@click.option("--style", "styles", multiple=True,
              type=click.Choice(["choreography", "orchestration", "hybrid"]),
              help="Only these styles (at least two; default: all three).")
@click.option("--format", "report_format", type=click.Choice(["text", "markdown", "json"]),
              default="text", show_default=True,
              help="markdown: tables for a handout; json: for tooling (keys in the README).")
@click.option("--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the report to this file instead of printing it.")
@click.pass_context
def compare(ctx: click.Context, styles: tuple[str, ...], report_format: str,
            output: Path | None) -> None:
    """Play the demo's scenarios in each style (inline dispatch, a fresh in-memory database
    per style, the manual clock) and put the styles side by side: outcomes, messages, commands
    and events, which module knows which other module's messages, where the flow's state lives,
    time taken. Exits with 1 when a scenario ends differently in some style."""
    from app import compare as comparison

    ctx.exit(comparison.main(styles, report_format, output))


@orderflow.command("fixture")
@click.option("--orders", "count", type=click.IntRange(min=1), required=True,
              help="How many orders to make.")
@click.option("--append", is_flag=True, help="Add them to a database that has orders already.")
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True,
              help="Spread them over this many days, ending now (newest last). With "
                   "--append they go after the newest order already there, so a short gap "
                   "since then holds only orders whose story fits in it.")
@click.option("--seed", type=int, help="The same seed makes the same mix (ids stay random).")
@click.option("--batch", type=click.IntRange(1, 100_000), default=2000, show_default=True,
              help="Orders per transaction.")
@with_appcontext
def fixture(count: int, append: bool, days: int, seed: int | None, batch: int) -> None:
    """Fill the configured database with --orders N realistic orders: a few real orders per
    style, flow and ending played through the bus, then copied in bulk with fresh ids and
    times."""
    from app import fixture as fixtures

    fixtures.run_command(_runtime(), count, append=append, days=days, seed=seed, batch=batch)


@orderflow.command("prune")
@click.option("--older-than", "older_than", metavar="DURATION",
              help="Prune finished flows silent for this long (ISO-8601, e.g. P30D; "
                   "default: ORDERFLOW_RETAIN_FINISHED).")
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
@click.option("--batch", type=click.IntRange(1, 5000), default=200, show_default=True,
              help="Flows per transaction.")
@with_appcontext
def prune(older_than: str | None, dry_run: bool, batch: int) -> None:
    """Delete the message log, deliveries, inbox rows and closed deadlines of finished orders
    whose last message is older than the retention period, now, batch by batch (the app does
    it every few minutes by itself). Orders, payments, picks and shipments stay; each pruned
    order keeps a note that its history was archived."""
    from app.bus.retention import Pruned
    from app.clock import parse_duration

    runtime = _runtime()
    try:
        keep = parse_duration(older_than) if older_than else runtime.settings.retain_finished
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--older-than") from None
    if keep is None:
        raise click.UsageError("retention is off (ORDERFLOW_RETAIN_FINISHED=never); pass "
                               "--older-than DURATION to prune anyway")
    if keep.total_seconds() <= 0:
        raise click.BadParameter("give a duration above zero", param_hint="--older-than")
    verb = "would prune" if dry_run else "pruned"
    batches: list[Pruned] = []

    def progress(done: Pruned) -> None:
        batches.append(done)
        click.echo(f"batch {len(batches)}: {verb} {done.describe()} "
                   f"({done.seconds * 1000:.0f} ms)")

    total = runtime.bus.prune(keep, batch=batch, dry_run=dry_run, progress=progress)
    cutoff = (runtime.bus.clock.now() - keep).isoformat(timespec="seconds")
    click.echo(f"{verb} {total.describe()} of finished flows silent since before {cutoff}, "
               f"in {total.batches} batch(es), {total.seconds:.1f} s")


@orderflow.command("simulate", epilog=simulation.profiles_help())
@click.option("--orders", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
              help="How many orders to place.")
@click.option("--style", type=click.Choice(simulation.STYLE_CHOICES),
              help="The orders' style (default: ORDERFLOW_STYLE); all: each in turn.")
@click.option("--flow", type=click.Choice(simulation.FLOW_CHOICES),
              help="The orders' flow shape (default: ORDERFLOW_FLOW).")
@click.option("--profile", type=click.Choice(list(simulation.PROFILES)),
              default=simulation.DEFAULT_PROFILE, show_default=True,
              help="How often each fault happens (see below).")
@click.option("--seed", type=int, default=1, show_default=True,
              help="The same seed draws the same orders, faults and delays.")
@click.pass_context
def simulate(ctx: click.Context, orders: int, style: str | None, flow: str | None,
             profile: str, seed: int) -> None:
    """Run ORDERS orders through the real bus (inline dispatch, a throw-away SQLite file, the
    manual clock), with faults drawn from a profile, playing the call centre, the operator and
    VIP customers; then print the outcomes by status and reason, flow durations in simulated
    time, messages per order, and checks that stock and money add up. Exits with 1 when a
    check fails."""
    ctx.exit(0 if simulation.main(orders, style, flow, profile, seed) else 1)


@orderflow.command("config")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@with_appcontext
def config(output_format: str) -> None:
    """Print the effective settings (every ORDERFLOW_* variable, its value and whether it came
    from the environment or is the default; secrets masked). The settings were validated on
    the way here: a bad one stops the command with a line naming it."""
    from app.config import effective

    runtime = _runtime()
    rows = effective(runtime.settings)
    if output_format == "json":
        click.echo(json.dumps({name: {"value": value, "source": source}
                               for name, value, source in rows}, indent=2))
        return
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        click.echo(f"{name:<{width}}  {value}  ({source})")
    click.echo(f"{'data folder':<{width}}  {runtime.data_dir}")
@orderflow.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE when it exists.")
@with_appcontext
def backup_command(file: Path, force: bool) -> None:
    """Copy the SQLite database to FILE while the shop runs (SQLite's online backup API: one
    consistent snapshot, writers never wait), check the copy, and say what was written. The
    copy is made beside FILE and renamed into place when complete. On PostgreSQL: pg_dump."""
    from app import backup

    try:
        database = backup.database_file(_runtime().bus.db.engine.url)
        report = backup.backup(database, file, force=force, progress=_progress_printer())
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo("\n".join(report.lines("backup written to")))


@orderflow.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Restore even while a running orderflow serves the database.")
@with_appcontext
def restore_command(file: Path, force: bool) -> None:
    """Replace the configured SQLite database with the backup FILE, then migrate it to the
    newest schema. Refuses while a running orderflow serves the database: stop it first.
    On PostgreSQL: pg_restore."""
    from app import backup

    url = _runtime().bus.db.engine.url
    try:
        database = backup.database_file(url)
        report = backup.restore(file, database, url.render_as_string(hide_password=False),
                                force=force)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo("\n".join([f"restored {file}", *report.lines("into")]))


def _progress_printer() -> Callable[[int, int], None]:
    """Progress on stderr, every tenth of the way, for copies of more than one step."""
    shown = [0]

    def show(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if done < total and tenth > shown[0]:
            shown[0] = tenth
            click.echo(f"  copied {done:,} of {total:,} pages ({tenth * 10}%)", err=True)
    return show


def register(app: Flask) -> None:
    app.cli.add_command(orderflow)


def main() -> None:
    orderflow.main(obj=ScriptInfo(create_app=_create_app_or_explain))


def _create_app_or_explain() -> Flask:
    """A bad setting ends the command with its one-line error, not a traceback."""
    from app import create_app
    from app.config import ConfigError

    try:
        return create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
