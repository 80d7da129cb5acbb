"""Where an incremental run starts reading (dbt_project/macros/safe_point.sql): at the safe
point of the model's last run, not one lookback before its newest row; and raw lines written
by a transaction that began before a run, but committed after it, are read by the next run.

The late lines are older than those of a load that committed before them: a run that
started from the clock, or from its newest row, would skip them for good."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from psycopg2.extras import execute_values

from clickstream.config import Settings
from clickstream.storage import s3_client
from clickstream.warehouse import connect
from devtools.traffic import generate_requests, write_requests_to_s3
from extract_load.loader import load_new_objects
from extract_load.user_agents import parse_user_agents
from tests.integration.dbt_support import dbt
from tests.integration.test_extract_load import DAY
from tests.support import temporary_bucket

LATE_AGENT = "Mozilla/5.0 (X11; Linux x86_64) late-commit-test/1.0"
SINCE = datetime(2026, 3, 1, tzinfo=UTC)


def write_traffic(bucket: str, seed: int) -> None:
    write_requests_to_s3(list(generate_requests(300, 1, DAY, seed=seed)), bucket, "events/",
                         s3_client())  # fmt: skip


def load(bucket: str) -> None:
    load_new_objects(SINCE, settings=Settings(raw_bucket=bucket, raw_prefix="events/"))


def rows(sql: str) -> list[tuple]:
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        found = cursor.fetchall()
    conn.close()
    return found


def processed_through() -> dict[str, datetime]:
    return dict(
        rows("select relation_name, loaded_at from dbt_intermediate.models_processed_through")
    )


def late_lines() -> list[tuple[str, str, int, str]]:
    """Raw lines as the loader writes them (payload, s3_key, line_number, load_id), of
    traffic of their own, every request with LATE_AGENT."""
    load_id = str(uuid.uuid4())
    lines = []
    for request in generate_requests(200, 1, DAY, seed=2):
        key = request.object_key("late/")
        for line_number, line in enumerate(request.lines(), start=1):
            line["ingest"]["user_agent"] = LATE_AGENT
            lines.append((json.dumps(line), key, line_number, load_id))
    return lines


def test_lines_committed_after_a_run_began_are_read_by_the_next_run(warehouse_db: str) -> None:
    with temporary_bucket() as early, temporary_bucket() as later:
        write_traffic(early, seed=1)
        load(early)
        dbt("build")
        (early_loaded_at,) = rows("select max(loaded_at) from staging.raw_events")[0]
        first_records = processed_through()
        # every incremental model has a record, past the lines it has read
        assert {"int_events_classified", "clickstream_events", "fct_sessions", "fct_orders"} <= (
            first_records.keys()
        )
        assert min(first_records.values()) > early_loaded_at

        # A writer's transaction begins: its lines' loaded_at (now()) is fixed from here on.
        late = connect()
        with late.cursor() as cursor:
            cursor.execute("select now()")
            (late_loaded_at,) = cursor.fetchone()  # type: ignore[misc]
        write_traffic(later, seed=3)
        load(later)  # newer lines than the late ones, committed before them
        dbt("build")
        # the run saw the late transaction open: no model claims to have processed past it
        assert max(processed_through().values()) < late_loaded_at
        with late, late.cursor() as cursor:
            lines = late_lines()
            execute_values(
                cursor,
                "insert into staging.raw_events (payload, s3_key, line_number, load_id) values %s",
                lines,
            )
            parse_user_agents(cursor, {LATE_AGENT})
        late.close()

        dbt("build")
    late_events = "select min(loaded_at) from public.clickstream_events where user_agent = %s"
    assert rows(late_events.replace("%s", f"'{LATE_AGENT}'")) == [(late_loaded_at,)]
    # every distinct event of the three writers is in the warehouse: kept, or invalid
    expected = rows("select count(distinct lower(payload->>'event_id')) from staging.raw_events")
    found = rows(
        "select (select count(*) from public.clickstream_events)"
        " + (select count(distinct lower(event_id)) from public.invalid_events"
        "    where lower(event_id) not in (select event_id from public.clickstream_events))"
    )
    assert found == expected
