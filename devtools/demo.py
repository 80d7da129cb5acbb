"""`make demo`: the whole pipeline on generated traffic, on the embedded default.

    python -m devtools.demo --events 20000 --days 1 [--start YYYY-MM-DD] [--seed 1]

Steps, each a small function below: say where the warehouse and the bucket are, send a shop's
traffic through the real ingest handler (so the raw objects are exactly the Lambda's), load
the new objects into staging with extract_load, build and test the warehouse with dbt, print
the funnel, the top products and the busiest hours from the marts, and say how to open the
dashboards.

The default start is the last DAYS full days before today (UTC), so a second `make demo` the
same day regenerates the same events, under the same object keys (the keys derive from the
request ids): the loader finds them in its manifest and loads nothing twice. (Written under
other keys, they would load again and the warehouse would deduplicate them on `event_id`.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

from clickstream.config import Settings
from clickstream.errors import ClickstreamError
from clickstream.warehouse import connect, describe_target
from devtools.dbt_cli import run_dbt
from devtools.marts_summary import summarise_marts
from devtools.traffic import (
    TrafficStats,
    default_start,
    generate_requests,
    parse_date,
    s3_sink,
    write_requests,
)

# Late deliveries arrive up to 8 hours after their events, retries two minutes after that.
LATEST_ARRIVAL = timedelta(hours=9)


@dataclass
class DemoRun:
    """What the steps share: the arguments, then what each step produced."""

    events: int
    days: int
    start: date
    seed: int
    direct: bool = False
    settings: Settings = field(default_factory=Settings.from_env)
    traffic: TrafficStats = field(default_factory=TrafficStats)
    results: dict[str, object] = field(default_factory=dict)

    @property
    def traffic_window(self) -> tuple[datetime, datetime]:
        """The hour partitions the generated requests can land in."""
        first = datetime.combine(self.start, clock_time(), tzinfo=UTC)
        return first, first + timedelta(days=self.days) + LATEST_ARRIVAL


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def show_targets(run: DemoRun) -> None:
    step("where")
    print(f"warehouse: {describe_target()}")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "AWS")
    print(f"raw bucket: s3://{run.settings.raw_bucket}/{run.settings.raw_prefix} ({endpoint})")


def send_traffic(run: DemoRun) -> None:
    step(f"traffic: {run.events} events over {run.days} day(s) from {run.start}, seed {run.seed}")
    started = time.monotonic()
    requests = generate_requests(run.events, run.days, run.start, run.seed, stats=run.traffic)
    if run.direct:
        from clickstream.storage import s3_client

        sink = s3_sink(run.settings.raw_bucket, run.settings.raw_prefix, s3_client())
        path = "written straight to S3"
        written = write_requests(requests, sink)
    else:
        from lambdas.ingest.local import handler_sink, quiet_handler_logs

        path = "sent through the ingest handler"
        with quiet_handler_logs():
            written = write_requests(requests, handler_sink())
    stats = run.traffic
    print(
        f"{stats.distinct_events} events in {stats.sessions} sessions, {written.requests} requests "
        f"{path} ({stats.lines} lines: {stats.retried_requests} retried requests, "
        f"{stats.late_requests} late, {stats.skewed_sessions} sessions with a fast clock) "
        f"in {time.monotonic() - started:.1f} s"
    )


def load(run: DemoRun) -> None:
    from extract_load.loader import load_new_objects

    since, until = run.traffic_window
    step(f"load: s3 -> staging.raw_events ({since:%Y-%m-%dT%H} to {until:%Y-%m-%dT%H} UTC)")
    summary = load_new_objects(
        since, max(until, datetime.now(UTC)), settings=run.settings, progress=sys.stderr.isatty()
    )
    run.results["load"] = summary
    print(summary.one_line())


def build_warehouse(run: DemoRun) -> None:
    step("dbt build: staging -> clickstream_events -> marts, with their tests")
    started = time.monotonic()
    run_dbt("build", "--quiet")
    print(f"built and tested in {time.monotonic() - started:.1f} s")


def show_marts(run: DemoRun) -> None:
    step("the marts")
    conn = connect()
    try:
        print(summarise_marts(conn))
    finally:
        conn.close()


def show_next_steps(run: DemoRun) -> None:
    step("next")
    print("dashboards:  make dashboard   then open http://127.0.0.1:3838")
    print("dbt docs:    make docs-serve  then open http://127.0.0.1:8081")
    print("every hour:  make hourly      (load the new raw objects, then dbt build)")


# The demo's steps, in order.
STEPS: list[Callable[[DemoRun], None]] = [
    show_targets,
    send_traffic,
    load,
    build_warehouse,
    show_marts,
    show_next_steps,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument(
        "--start", type=parse_date, help="first day, UTC (default: the last DAYS full days)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--direct",
        action="store_true",
        help="write the raw objects straight to S3 instead of through the ingest handler",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.events < 0 or args.days < 1:
        print("error: --events must be >= 0 and --days >= 1", file=sys.stderr)
        return 2
    run = DemoRun(
        events=args.events,
        days=args.days,
        start=args.start or default_start(args.days),
        seed=args.seed,
        direct=args.direct,
    )
    try:
        for demo_step in STEPS:
            demo_step(run)
    except ClickstreamError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
