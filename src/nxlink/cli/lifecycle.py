"""``nxlink simulate`` and ``nxlink verify-counters``: the dialer beside the server, and the
proof that every counter equals what its orders and calls say."""

from __future__ import annotations

import signal
import threading
import time

import click

from nxlink.cli.common import db_option, opened, recording_links
from nxlink.cli.output import print_table


@click.command()
@db_option
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True, max=100_000),
    default=1.0,
    show_default=True,
    help="Simulated seconds per real second (60: a minute).",
)
@click.option(
    "--seed",
    "seed_value",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the call outcomes: same seed and API calls, same calls.",
)
@click.option(
    "--for",
    "for_seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Stop after this many real seconds (default: Ctrl-C).",
)
@click.option(
    "--no-callbacks", is_flag=True, help="Do not deliver the callback outbox from this process."
)
@click.option("--backoff-scale", type=click.FloatRange(min=0, min_open=True, max=1),
              default=1.0, show_default=True,
              help="Shrink the callback retry schedule (demos, tests).")  # fmt: skip
def simulate(
    db_url: str, speed: float, seed_value: int, for_seconds: float | None, no_callbacks: bool,
    backoff_scale: float,
) -> None:  # fmt: skip
    """Run the simulated dialer on the database, beside a server.

    It claims due contacts of in-progress tasks, draws each call's outcome from the route's
    profile (answer rate, talk time) with a seeded generator, and reports it when it ends on a
    clock SPEED times faster than real time. Several simulators may run at once: no contact
    is dialled twice. It also delivers callbacks unless --no-callbacks.

    \b
    Examples:
      nxlink simulate --db sqlite:///./nxlink.db --speed 60 --seed 7
      nxlink simulate --speed 600 --for 30
    """
    from nxlink.callbacks.delivery import Deliverer
    from nxlink.callbacks.delivery import start_thread as start_delivery
    from nxlink.dialer.simulator import SharedSimClock, Simulator

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with opened(db_url) as store:
        simulator = Simulator(store, seed=seed_value, links=recording_links(store))
        clock = SharedSimClock(store, speed=speed)
        delivery = None
        if not no_callbacks:
            delivery = start_delivery(Deliverer(store, backoff_scale=backoff_scale))
        click.echo(f"simulating on {db_url} at {speed:g}x, seed {seed_value} "
                   f"(dialer {simulator.port.dialer_id})", err=True)  # fmt: skip
        started = time.monotonic()
        if for_seconds is not None:
            threading.Timer(for_seconds, stop.set).start()
        try:
            simulator.run(clock, stop, on_error=_report_error)
        except KeyboardInterrupt:
            stop.set()
        finally:
            if delivery is not None:
                delivery[1].set()
                delivery[0].join(timeout=15)
    click.echo(f"placed {simulator.placed} call(s), reported {simulator.reported} in "
               f"{time.monotonic() - started:.1f} s; {simulator.released} in flight released "
               "(another dialer places them again)")  # fmt: skip


def _report_error(exc: BaseException) -> None:
    click.echo(f"simulator step failed: {type(exc).__name__}: {exc}", err=True)


@click.command("verify-counters")
@db_option
def verify_counters(db_url: str) -> None:
    """Recompute every task's counters from its orders and calls; exit 1 on a difference.

    Seeded tasks (nxlink seed) are left out: their counters were generated, not recorded.

    Example: nxlink verify-counters --db sqlite:///./nxlink.db
    """
    with opened(db_url) as store:
        check = store.recompute_counters()
    seeded = f"; {check.synthetic} seeded task(s) left out" if check.synthetic else ""
    if not check.differences:
        click.echo(f"ok: {check.checked} task(s), every counter equals its recomputation "
                   f"from orders and calls{seeded}")  # fmt: skip
        return
    print_table(
        ("taskId", "counter", "stored", "recomputed"),
        [(d.task_id, d.counter, d.stored, d.recomputed) for d in check.differences],
    )
    tasks = len({d.task_row_id for d in check.differences})
    click.echo(f"{len(check.differences)} difference(s) in {tasks} of {check.checked} "
               f"task(s){seeded}", err=True)  # fmt: skip
    raise SystemExit(1)
