"""`make demo`: the whole pipeline on generated traffic, on the embedded default.

    python -m devtools.demo --events 20000 --days 1 [--start YYYY-MM-DD] [--seed 1]

Steps, each a small function below: say where the warehouse and the bucket are, send a shop's
traffic through the real ingest handler (so the raw objects are exactly the Lambda's), load
the new objects into staging with extract_load, build and test the warehouse with dbt, print
one line that accounts for every generated session (in the funnel, or why not: read from the
warehouse), the funnel, the top products and the busiest hours of the generated days from the
marts, and say how to open the dashboards. On a terminal, sending and loading show progress
bars on stderr.

The default start is the last DAYS full days before today (UTC), so a second `make demo` the
same day regenerates the same events, under the same object keys (the keys derive from the
request ids): the loader finds them in its manifest and loads nothing twice, and the demo
checks that dbt build left the marts as they were (`nothing new arrived: N objects already
loaded, marts unchanged`). (Written under other keys, they would load again and the warehouse
would deduplicate them on `event_id`.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection
from psycopg2.extras import execute_values

from clickstream.config import Settings
from clickstream.errors import ClickstreamError
from clickstream.warehouse import connect, describe_target
from devtools.dbt_cli import HOURLY_BUILD, DbtFailedError, models_out_of_sync, run_dbt
from devtools.marts_summary import summarise_marts
from devtools.traffic import (
    Request,
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
    session_ids: set[str] = field(default_factory=set)  # of the generated traffic
    results: dict[str, object] = field(default_factory=dict)

    @property
    def traffic_window(self) -> tuple[datetime, datetime]:
        """The hour partitions the generated requests can land in."""
        first = datetime.combine(self.start, clock_time(), tzinfo=UTC)
        return first, first + timedelta(days=self.days) + LATEST_ARRIVAL

    @property
    def last_day(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def describe_days(self) -> str:
        if self.days == 1:
            return f"{self.start}"
        return f"{self.start} to {self.last_day}"


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
    requests = _noting_sessions(
        generate_requests(run.events, run.days, run.start, run.seed, stats=run.traffic),
        run.session_ids,
    )
    if sys.stderr.isatty():
        requests = _with_progress_bar(requests, run.events, run.traffic)
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
        f"{stats.distinct_events:,} events in {stats.sessions:,} sessions, "
        f"{written.requests:,} requests {path} ({stats.lines:,} lines: "
        f"{stats.retried_requests} retried requests, "
        f"{stats.late_requests} late, {stats.skewed_sessions} sessions with a fast clock) "
        f"in {time.monotonic() - started:.1f} s"
    )


def _noting_sessions(requests: Iterable[Request], session_ids: set[str]) -> Iterator[Request]:
    """The requests, unchanged; their session ids go to `session_ids` on the way."""
    for request in requests:
        session_ids.update(event["session_id"] for event in request.events)
        yield request


def _with_progress_bar(
    requests: Iterator[Request], events: int, stats: TrafficStats
) -> Iterator[Request]:
    """A bar on stderr (a terminal only) that counts the distinct events sent."""
    from clickstream.progress import progress_bar

    with progress_bar("sending", unit="event", total=events) as bar:
        for request in requests:
            yield request
            bar.update(stats.distinct_events - bar.n)


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
    summary = run.results.get("load")
    # When nothing new was loaded, check (rather than assume) that the build changes nothing.
    nothing_new = getattr(summary, "objects", None) == 0
    before = _fingerprint_marts() if nothing_new else None
    started = time.monotonic()
    _build_or_rebuild_stale_marts()
    print(f"built and tested in {time.monotonic() - started:.1f} s")
    if before is not None:
        already = getattr(summary, "objects_already_loaded", 0)
        print(_nothing_new_line(run, already, before, _fingerprint_marts()))


def _build_or_rebuild_stale_marts() -> None:
    """dbt build; when the warehouse's marts were built by an earlier version of the models
    (a column added since), rebuild them from the raw lines, which hold everything, and say so:
    the demo's warehouse is local and the result is the same as the incremental runs'."""
    try:
        run_dbt(*HOURLY_BUILD, "--quiet")  # the pipeline's build, as each hour's
    except DbtFailedError:
        stale = models_out_of_sync()
        if not stale:
            raise
        print(
            f"{', '.join(stale)}: built by an earlier version of the models; rebuilding every"
            " mart from the raw lines (dbt build --full-refresh)"
        )
        run_dbt(*HOURLY_BUILD, "--quiet", "--full-refresh")


def _nothing_new_line(
    run: DemoRun,
    already: int,
    before: dict[str, tuple[int, str]],
    after: dict[str, tuple[int, str]],
) -> str:
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    run.results["marts_unchanged"] = not changed
    line = f"nothing new arrived: {already:,} objects already loaded"
    if changed:
        return f"{line}, but the build changed {', '.join(changed)}"
    return f"{line}, marts unchanged"


def _fingerprint_marts() -> dict[str, tuple[int, str]]:
    """Each table of the marts' schema (`public`): its row count and a hash of its rows."""
    conn = connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'public' and table_type = 'BASE TABLE' order by 1"
            )
            names = [row[0] for row in cursor.fetchall()]
            prints = {}
            for name in names:
                cursor.execute(
                    sql.SQL(
                        "select count(*), md5(coalesce(string_agg(row_hash, ',' order by"
                        " row_hash), '')) from (select md5(mart::text) as row_hash"
                        " from public.{} as mart) as hashed"
                    ).format(sql.Identifier(name))
                )
                count, digest = cursor.fetchone()  # type: ignore[misc]
                prints[name] = (int(count), str(digest))
        return prints
    finally:
        conn.close()


def show_marts(run: DemoRun) -> None:
    step(f"the marts, for {run.describe_days()} (UTC)")
    conn = connect()
    try:
        print(account_for_sessions(conn, run))
        print()
        print(summarise_marts(conn, (run.start, run.last_day)))
    finally:
        conn.close()


def account_for_sessions(conn: connection, run: DemoRun) -> str:
    """One line that reconciles the traffic line's sessions with the funnel's: where each
    generated session is in the warehouse (figures read from it, not assumed)."""
    where = _locate_sessions(conn, run)
    generated, in_funnel = len(run.session_ids), where["in_funnel"]
    line = f"sessions: {generated:,} generated, {in_funnel:,} in the funnel"
    invalid_reason = f"{where['invalid_reason']}; kept in invalid_events"
    elsewhere = [
        (where["all_invalid"], f"have only invalid events ({invalid_reason})"),
        (where["other_days"], f"start on a day other than {run.describe_days()}"),
        (where["bots"], "are bots and crawlers (counted in fct_bot_traffic_daily only)"),
        (where["not_loaded"], "are not in the warehouse (not loaded yet?)"),
    ]
    elsewhere = [(count, why) for count, why in elsewhere if count]
    if len(elsewhere) == 1:
        ((count, why),) = elsewhere
        line += f"; the other {count:,} {why}"
    elif elsewhere:
        line += f"; of the other {generated - in_funnel:,}, "
        line += ", ".join(f"{count:,} {why}" for count, why in elsewhere)
    other_traffic = where["funnel_sessions"] - in_funnel
    if other_traffic:
        line += f"; the funnel also counts {other_traffic:,} sessions of other traffic"
    return line


# Where each generated session is: in the funnel of the generated days, on another day (its
# valid events start before or after them), only in invalid_events, or not loaded at all.
_LOCATE_SESSIONS_SQL = """
with located as (
    select
        generated.session_id,
        sessions.session_date,
        sessions.session_id is null and exists (
            select 1 from public.invalid_events as invalid
            where invalid.payload ->> 'session_id' = generated.session_id
        ) as is_all_invalid,
        sessions.session_id is null and exists (
            select 1 from public.clickstream_events as events
            where events.session_id = generated.session_id and events.is_bot
        ) as is_bot
    from demo_sessions as generated
    left join public.fct_sessions as sessions on sessions.session_id = generated.session_id
)
select
    count(*) filter (where session_date between %(first)s and %(last)s),
    count(*) filter (where session_date not between %(first)s and %(last)s),
    count(*) filter (where is_all_invalid),
    count(*) filter (where session_date is null and not is_all_invalid and not is_bot),
    (
        select coalesce(sum(sessions), 0) from public.fct_funnel_daily
        where session_date between %(first)s and %(last)s
    ),
    (
        select reason from public.invalid_events as invalid
        cross join unnest(invalid.invalid_reasons) as reason
        inner join located on located.session_id = invalid.payload ->> 'session_id'
        where located.is_all_invalid
        group by reason order by count(*) desc, reason limit 1
    ),
    count(*) filter (where is_bot)
from located
"""


def _locate_sessions(conn: connection, run: DemoRun) -> dict[str, Any]:
    with conn.cursor() as cursor:
        cursor.execute("create temporary table demo_sessions (session_id text primary key)")
        if run.session_ids:
            execute_values(
                cursor,
                "insert into demo_sessions (session_id) values %s",
                [(session_id,) for session_id in run.session_ids],
            )
        cursor.execute(_LOCATE_SESSIONS_SQL, {"first": run.start, "last": run.last_day})
        row = cursor.fetchone()
    conn.rollback()  # the temporary table goes with the transaction
    assert row is not None
    names = ("in_funnel", "other_days", "all_invalid", "not_loaded", "funnel_sessions")
    located: dict[str, Any] = {name: int(value) for name, value in zip(names, row[:5], strict=True)}
    located["invalid_reason"] = row[5]
    located["bots"] = int(row[6])
    return located


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
    except psycopg2.Error as error:  # e.g. the marts are not built the way this code expects
        lines = (error.pgerror or str(error)).strip().splitlines() or [type(error).__name__]
        print(f"error: the warehouse refused a query: {lines[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
