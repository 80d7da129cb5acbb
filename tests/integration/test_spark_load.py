"""The Spark loader (extract_load/spark_load.py) against the local S3 and a real local Spark:
the same objects give the same lines, rejects and user agents as the PostgreSQL loader; a
second run loads nothing; a run killed mid-batch leaves nothing twice."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from clickstream.storage import s3_client
from devtools.spark import missing_requirement, spark_home_dir, spark_session, stop_spark
from devtools.traffic import generate_requests, write_requests_to_s3
from extract_load import spark_load
from extract_load.loader import load_new_objects
from extract_load.spark_load import Journal, load_into_spark, mirror_path
from tests.integration.test_extract_load import BAD_LINES, DAY, GOOD, expected_lines, put, query
from tests.support import environment_variable

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]

# Lines only PostgreSQL refuses (jsonb's own limits: a number past numeric's range, a lone
# surrogate escape): Python's json accepts them, so Spark loads them. Left out of the
# comparison, and said so in docs/scale.md.
POSTGRES_ONLY_REFUSALS = {10, 11}


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory, services: dict[str, str]) -> Iterator[Any]:
    """One Spark (JVM, Derby metastore) for the module, in a directory of its own."""
    home = tmp_path_factory.mktemp("spark-home")
    with environment_variable("SPARK_HOME_DIR", str(home)):
        session = spark_session()
        try:
            yield session
        finally:
            stop_spark()


@pytest.fixture
def fresh_staging(spark: Any) -> Any:
    """Spark's staging tables, mirror and journal emptied before the test."""
    spark.sql("drop database if exists staging cascade")
    shutil.rmtree(spark_home_dir() / "raw", ignore_errors=True)
    Journal(spark_home_dir()).end()
    return spark


def spark_rows(spark: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in spark.sql(sql).collect()]


def spark_lines(spark: Any) -> dict[tuple[str, int], dict[str, Any]]:
    rows = spark_rows(spark, "select s3_key, line_number, payload from staging.raw_events")
    lines = {(key, number): json.loads(payload) for key, number, payload in rows}
    assert len(lines) == len(rows), "a line was loaded twice"
    return lines


def test_same_objects_give_the_same_lines_rejects_and_agents_as_postgresql(
    fresh_staging: Any, warehouse_db: str, raw_bucket: str
) -> None:
    spark = fresh_staging
    requests = list(generate_requests(300, 1, DAY, seed=21, retry_rate=0.02))
    write_requests_to_s3(requests, raw_bucket, "events/", s3_client())
    bad_key = "events/2026/03/02/10/events-bad.json"
    bad_lines = [line for line, _ in BAD_LINES]
    kept = [n for n in range(1, len(bad_lines) + 1) if n not in POSTGRES_ONLY_REFUSALS]
    put(raw_bucket, bad_key, b"\n".join(bad_lines[n - 1] for n in kept) + b"\n" + GOOD % 99)
    put(raw_bucket, "events/2026/03/02/11/events-broken.json.gz", b"\x1f\x8b not gzip")

    on_postgres = load_new_objects()
    on_spark = load_into_spark(spark=spark)

    assert (on_spark.objects, on_spark.lines_loaded, on_spark.lines_rejected) == (
        on_postgres.objects,
        on_postgres.lines_loaded,
        on_postgres.lines_rejected,
    )
    assert on_spark.objects_unreadable == 1
    postgres_lines = {
        (key, number): payload
        for key, number, payload in query(
            "select s3_key, line_number, payload from staging.raw_events"
        )
    }
    assert spark_lines(spark) == postgres_lines
    assert set(expected_lines(requests)) <= set(postgres_lines)
    reject_columns = "s3_key, line_number, reason, raw_line"
    assert sorted(
        spark_rows(spark, f"select {reject_columns} from staging.rejected_events"),
        key=repr,
    ) == sorted(query(f"select {reject_columns} from staging.rejected_events"), key=repr)
    agent_columns = (
        "user_agent, device_class, browser_family, browser_version, os_family, os_version,"
        " is_bot, bot_name, parser_version"
    )
    spark_agents = spark_rows(spark, f"select {agent_columns} from staging.user_agents")
    assert sorted(spark_agents) == sorted(query(f"select {agent_columns} from staging.user_agents"))
    assert len(spark_agents) > 3
    manifest = "select s3_key, etag, size_bytes, lines_loaded, lines_rejected from"
    assert sorted(spark_rows(spark, f"{manifest} staging.load_manifest")) == sorted(
        query(f"{manifest} staging.load_manifest")
    )
    # the mirror holds each object as it is in the bucket
    assert mirror_path(bad_key, spark_home_dir()).is_file()


def test_a_second_run_loads_nothing_and_both_runs_are_recorded(
    fresh_staging: Any, raw_bucket: str
) -> None:
    spark = fresh_staging
    requests = list(generate_requests(200, 1, DAY, seed=22))
    write_requests_to_s3(requests, raw_bucket, "events/", s3_client())

    first = load_into_spark(spark=spark)
    second = load_into_spark(spark=spark)

    assert first.lines_loaded == len(expected_lines(requests))
    assert (second.objects, second.lines_loaded, second.objects_already_loaded) == (
        0,
        0,
        first.objects,
    )
    assert set(spark_lines(spark)) == set(expected_lines(requests))
    runs = spark_rows(
        spark, "select load_id, objects, lines_loaded from staging.load_runs order by objects"
    )
    assert runs == [
        (second.load_id, 0, 0),
        (first.load_id, first.objects, first.lines_loaded),
    ]
    partitions = spark_rows(spark, "select distinct load_day from staging.raw_events")
    assert len(partitions) == 1


class _KilledError(Exception):
    """Stands for the loader's process dying at that point."""


def test_a_run_killed_mid_batch_leaves_no_line_twice(
    fresh_staging: Any, raw_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark = fresh_staging
    requests = list(generate_requests(400, 1, DAY, seed=23))
    write_requests_to_s3(requests, raw_bucket, "events/", s3_client())
    expected = expected_lines(requests)
    monkeypatch.setattr(spark_load, "BATCH_MAX_OBJECTS", max(2, len(requests) // 3))
    real_append = spark_load._append
    manifest_writes = []

    def dies_at_the_second_manifest_write(session: Any, table: str, rows: Any, files: int = 1):
        if table == "staging.load_manifest":
            manifest_writes.append(len(rows))
            if len(manifest_writes) == 2:
                raise _KilledError
        real_append(session, table, rows, files)

    monkeypatch.setattr(spark_load, "_append", dies_at_the_second_manifest_write)
    with pytest.raises(_KilledError):
        load_into_spark(spark=spark)
    # the second batch's lines are in raw_events, but not its manifest rows
    half_loaded = spark_rows(spark, "select count(*) from staging.raw_events")[0][0]
    committed = spark_rows(spark, "select sum(lines_loaded) from staging.load_manifest")[0][0]
    assert half_loaded > committed
    assert spark_rows(spark, "select count(*) from staging.load_runs") == [(0,)]

    monkeypatch.setattr(spark_load, "_append", real_append)
    again = load_into_spark(spark=spark)

    assert spark_lines(spark).keys() == expected.keys()
    assert again.lines_loaded == len(expected) - committed
    # the killed run's committed batch has its load_runs row, rebuilt from the manifest
    runs = spark_rows(spark, "select objects, lines_loaded from staging.load_runs")
    assert sorted(runs) == sorted(
        [(manifest_writes[0], committed), (again.objects, again.lines_loaded)]
    )
    assert Journal(spark_home_dir()).pending() is None
