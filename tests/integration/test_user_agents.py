"""The loader parses the user agents of the lines it loads into staging.user_agents, in the
same transaction (extract_load/user_agents.py), and ensure_schema backfills a warehouse
loaded before the table existed."""

from __future__ import annotations

from datetime import date
from typing import Any

from clickstream.storage import s3_client
from clickstream.warehouse import connect
from devtools.traffic import BOT_USER_AGENTS, USER_AGENTS, generate_requests, write_requests_to_s3
from extract_load.loader import load_new_objects
from extract_load.schema import ensure_schema
from extract_load.user_agents import parse_user_agent

DAY = date(2026, 3, 2)


def query(sql: str) -> list[tuple[Any, ...]]:
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    conn.close()
    return rows


def test_every_loaded_agent_is_parsed_once_with_the_libraries_verdict(
    warehouse_db: str, raw_bucket: str
) -> None:
    requests = list(generate_requests(3000, 1, DAY, seed=5))
    write_requests_to_s3(requests[: len(requests) // 2], raw_bucket, "events/", s3_client())
    load_new_objects()
    write_requests_to_s3(requests[len(requests) // 2 :], raw_bucket, "events/", s3_client())
    load_new_objects()  # a second run adds only the agents not parsed yet

    sent = {request.user_agent for request in requests}
    assert sent <= set(USER_AGENTS) | set(BOT_USER_AGENTS)
    assert sent & set(BOT_USER_AGENTS), "the generator sends a few crawlers"
    unparsed = query(
        "select count(*) from staging.raw_events as raw where not exists (select from"
        " staging.user_agents as parsed where parsed.user_agent ="
        " raw.payload #>> '{ingest,user_agent}')"
    )
    assert unparsed == [(0,)]
    rows = query(
        "select user_agent, device_class, browser_family, os_family, is_bot, bot_name"
        " from staging.user_agents"
    )
    assert {row[0] for row in rows} == sent  # one row each
    for agent, *verdict in rows:
        expected = parse_user_agent(agent)
        assert verdict == [
            expected.device_class,
            expected.browser_family,
            expected.os_family,
            expected.is_bot,
            expected.bot_name,
        ]
    assert {row[1] for row in rows} == {"desktop", "mobile", "tablet", "bot"}


def test_ensure_schema_backfills_a_warehouse_loaded_before_the_table(
    warehouse_db: str, raw_bucket: str
) -> None:
    write_requests_to_s3(
        list(generate_requests(300, 1, DAY, seed=6)), raw_bucket, "events/", s3_client()
    )
    load_new_objects()
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute("drop table staging.user_agents")
    conn.commit()
    conn.close()

    with connect() as conn:
        ensure_schema(conn)
    conn.close()

    assert query(
        "select count(distinct raw.payload #>> '{ingest,user_agent}') from staging.raw_events"
        " as raw"
    ) == query("select count(*) from staging.user_agents")
