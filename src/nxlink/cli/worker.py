"""``nxlink worker``: the dialer and the callback delivery, without HTTP."""

from __future__ import annotations

import signal
import threading
import time

import click

from nxlink.cli.common import db_option, opened, recording_links


@click.command()
@db_option
@click.option("--simulate", is_flag=True, envvar="NXLINK_SIMULATE",
              help="Run the simulated dialer (the shipped dialer).")  # fmt: skip
@click.option("--speed", type=click.FloatRange(min=0, min_open=True, max=100_000), default=1.0,
              show_default=True, envvar="NXLINK_SIM_SPEED",
              help="Simulated seconds per real second (with --simulate).")  # fmt: skip
@click.option("--seed", "sim_seed", type=int, default=0, show_default=True,
              envvar="NXLINK_SIM_SEED",
              help="Seed of simulated outcomes (with --simulate).")  # fmt: skip
@click.option("--no-deliver", is_flag=True,
              help="Do not deliver the callback outbox from this worker.")  # fmt: skip
@click.option("--backoff-scale", type=click.FloatRange(min=0, min_open=True, max=1),
              default=1.0, show_default=True, envvar="NXLINK_CALLBACK_BACKOFF_SCALE",
              help="Shrink the callback retry schedule (demos, tests).")  # fmt: skip
def worker(
    db_url: str, simulate: bool, speed: float, sim_seed: int, no_deliver: bool,
    backoff_scale: float,
) -> None:  # fmt: skip
    """Run the dialer and callback delivery on the database, until SIGTERM or Ctrl-C.

    Any number of workers and API processes (nxlink serve) may share one database: claims
    and callback leases keep them from dialling a contact or sending a callback twice. On
    SIGTERM the try in flight finishes, and the worker gives back what it holds (claimed
    contacts and callbacks) for the others to take at once.

    \b
    Examples:
      nxlink worker --db postgresql://nxlink@db/nxlink --simulate --speed 60 --seed 7
      nxlink worker --db postgresql://nxlink@db/nxlink --no-deliver --simulate
      nxlink worker --db sqlite:///./nxlink.db
    """
    from nxlink.callbacks.delivery import Deliverer
    from nxlink.callbacks.delivery import start_thread as start_delivery
    from nxlink.dialer.simulator import SharedSimClock, Simulator
    from nxlink.dialer.simulator import start_thread as start_simulator

    if no_deliver and not simulate:
        raise click.UsageError("nothing to do: give --simulate, or drop --no-deliver")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with opened(db_url) as store:
        from nxlink.store import masked

        threads: list[tuple[threading.Thread, threading.Event]] = []
        simulator = None
        parts = []
        if simulate:
            simulator = Simulator(store, seed=sim_seed, links=recording_links(store))
            threads.append(start_simulator(simulator, SharedSimClock(store, speed=speed)))
            parts.append(f"dialer {simulator.port.dialer_id} at {speed:g}x, seed {sim_seed}")
        if not no_deliver:
            threads.append(start_delivery(Deliverer(store, backoff_scale=backoff_scale)))
            parts.append("callback delivery")
        click.echo(f"nxlink worker on {masked(store.url)}: {', '.join(parts)}", err=True)
        started = time.monotonic()
        while not stop.wait(0.5):
            if not all(thread.is_alive() for thread, _ in threads):
                break
        for _thread, stopping in threads:
            stopping.set()
        for thread, _stopping in threads:
            thread.join(timeout=30)
    summary = f"worker stopped after {time.monotonic() - started:.1f} s"
    if simulator is not None:
        summary += (f"; placed {simulator.placed} call(s), reported {simulator.reported}, "
                    f"{simulator.released} in flight released")  # fmt: skip
    click.echo(summary, err=True)
