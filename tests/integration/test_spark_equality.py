"""Issue 12's proof: the same raw objects (generated shop traffic and a REES46 sample, mapped
as test_warehouse_rees46.py maps it) loaded into PostgreSQL and into Spark, `dbt build` on
both, then every mart (clickstream_events and invalid_events included) compared row for row:
ordering-independent, numbers within 1e-9 relative, timestamps as UTC instants
(tests/integration/table_diff.py). Then a second batch of objects, loaded and built
incrementally on both (on Spark the models only: every dbt test ran on Spark in the first
build), and compared again.

A failure lists, per table, what differs: the Spark models dbt could not build, tables
missing on Spark, row counts, the columns whose values differ (with examples).

Columns that hold the loader's own clock or run id (`loaded_at`, `last_loaded_at`,
`load_id`) differ by construction (each warehouse was loaded at its own moment), so they are
left out of the comparison."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from clickstream.config import PROJECT_ROOT
from clickstream.storage import s3_client
from devtools.dbt_cli import dbt_command, run_results
from devtools.spark import missing_requirement, spark_env, spark_for
from devtools.traffic import generate_requests, write_requests_to_s3
from extract_load.loader import load_new_objects
from extract_load.spark_load import load_into_spark
from tests.integration.dbt_support import MARTS, dbt
from tests.integration.table_diff import Row, diff_table
from tests.integration.test_extract_load import DAY
from tests.integration.test_warehouse_rees46 import _objects, _rows
from tests.support import environment_variable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]

LOADER_CLOCK_COLUMNS = ("loaded_at", "last_loaded_at", "load_id")
# jsonb on PostgreSQL, the line's JSON text on Spark (cast_to 'jsonb'): compared as the JSON
# documents they hold, since jsonb renders a document in an order and spacing of its own.
JSON_TEXT_COLUMNS = {"invalid_events": ("payload",)}
# Small enough for CI on 2 cores, big enough for every mart to have rows: seed 33 has crawler
# sessions (fct_bot_traffic_daily), and a skew rate ten times the default makes a few sessions
# whose clocks are off, so invalid lines (invalid_events); seed 31 at the default had neither.
SKEW_RATE = 0.02
FIRST_BATCH = {"generated_events": 1200, "rees46_rows": (0, 1200), "seed": 33}
SECOND_BATCH = {"generated_events": 400, "rees46_rows": (1200, 1600), "seed": 32}
LOAD_SINCE = datetime(2019, 9, 30, tzinfo=UTC)  # the REES46 sample is from October 2019
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def write_batch(bucket: str, batch: dict[str, Any], number: int) -> None:
    """Generated traffic over two days (the second batch falls on the same days: the marts'
    incremental runs recompute them) and a slice of the REES46 sample."""
    requests = generate_requests(
        batch["generated_events"], 2, DAY, seed=batch["seed"], skew_rate=SKEW_RATE
    )
    write_requests_to_s3(list(requests), bucket, "events/", s3_client())
    first, last = batch["rees46_rows"]
    client = s3_client()
    for key, body in _objects(_rows()[first:last]):
        # the slices share hours: a key of their own per batch
        client.put_object(Bucket=bucket, Key=key.replace(".json", f"-b{number}.json"), Body=body)


# ------------------------------------------------------------------------- builds


@dataclass
class Round:
    """One load + build on both warehouses, and what differs between them."""

    spark_failures: list[str] = field(default_factory=list)
    differences: dict[str, list[str]] = field(default_factory=dict)

    def report(self) -> str:
        lines = [f"dbt on Spark: {failure}" for failure in self.spark_failures]
        for table, problems in self.differences.items():
            lines += [f"{table}: {problem}" for problem in problems]
        return "\n".join(lines)


def build_on_spark(target_path: Path, *, first: bool) -> list[str]:
    """`dbt build --target spark` in its own process (Derby: one JVM at a time); the nodes
    that failed, or dbt's last lines when it stopped before running any. The first build
    runs every dbt test, unit tests too (the suite runs those once per engine:
    tests/conftest.py); the second, incremental one builds the models only: its proof is the
    comparison, and CI's 20 minutes do not hold a second run of the data tests on Spark."""
    target_path.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, **spark_env()}
    environment.pop("DBT_EXCLUDE_RESOURCE_TYPES", None)
    excluded = (
        [] if first else ["--exclude-resource-type", "unit_test", "--exclude-resource-type", "test"]
    )
    completed = subprocess.run(
        dbt_command("build", "--target", "spark", "--target-path", str(target_path), *excluded),
        env=environment,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    (target_path / "dbt-output.txt").write_text(completed.stdout + completed.stderr)
    results = run_results(target_path / "run_results.json")
    failures = [
        f"{result['unique_id']}: {result['status']}: {_gist(result.get('message'))}"
        for result in results
        if result.get("status") in ("error", "fail", "runtime error")
    ]
    if completed.returncode != 0 and not failures:
        tail = "\n".join(completed.stdout.splitlines()[-20:])
        failures.append(f"dbt exited {completed.returncode}:\n{tail}")
    return failures


def _gist(message: str | None) -> str:
    """The informative lines of a dbt error (its first lines only say where it happened)."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return " | ".join(lines[:4])


def postgres_tables() -> dict[str, list[Row]]:
    import psycopg2

    tables: dict[str, list[Row]] = {}
    with psycopg2.connect() as conn, conn.cursor() as cursor:
        for mart in MARTS:
            cursor.execute(f"select * from public.{mart}")
            names = [column.name for column in cursor.description or []]
            tables[mart] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    conn.close()
    return tables


def spark_tables(spark: SparkSession) -> dict[str, list[Row] | None]:
    """Each mart's rows on Spark (None when the table is not there); timestamps read as
    epoch microseconds so that no Python time zone shifts them."""
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql.types import TimestampNTZType, TimestampType

    tables: dict[str, list[Row] | None] = {}
    for mart in MARTS:
        if not spark.catalog.tableExists(f"public.{mart}"):
            tables[mart] = None
            continue
        frame = spark.table(f"public.{mart}")
        instants = {
            column.name
            for column in frame.schema
            if isinstance(column.dataType, TimestampType | TimestampNTZType)
        }
        frame = frame.select(
            *(
                F.unix_micros(F.col(name)).alias(name) if name in instants else F.col(name)
                for name in frame.columns
            )
        )
        documents = JSON_TEXT_COLUMNS.get(mart, ())
        tables[mart] = [
            {
                name: _instant(value)
                if name in instants
                else _document(value)
                if name in documents
                else value
                for name, value in row.asDict().items()
            }
            for row in frame.collect()
        ]
    return tables


def _document(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _instant(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


def compare(spark_failures: list[str], spark: SparkSession) -> Round:
    result = Round(spark_failures=spark_failures)
    on_postgres = postgres_tables()
    on_spark = spark_tables(spark)
    for mart in MARTS:
        spark_rows = on_spark[mart]
        if spark_rows is None:
            result.differences[mart] = ["missing on Spark"]
            continue
        problems = diff_table(on_postgres[mart], spark_rows, ignore=LOADER_CLOCK_COLUMNS)
        if not on_postgres[mart]:
            problems.append("empty on PostgreSQL: this batch does not exercise it")
        if problems:
            result.differences[mart] = problems
    return result


@contextmanager
def timed(step: str) -> Iterator[None]:
    """Prints how long a step took (shown with a failure: where the test's time goes)."""
    started = time.monotonic()
    yield
    print(f"{step}: {time.monotonic() - started:.0f} s")


def write_and_load(bucket: str, batch: dict[str, Any], number: int, spark: SparkSession) -> None:
    """Write the batch's objects, load and build them on PostgreSQL, load them into Spark."""
    with timed(f"batch {number}: write objects"):
        write_batch(bucket, batch, number)
    with timed(f"batch {number}: PostgreSQL load + dbt build"):
        load_new_objects(LOAD_SINCE)
        dbt("build")
    with timed(f"batch {number}: Spark load"):
        load_into_spark(LOAD_SINCE, spark=spark)


def spark_build(target_path: Path, number: int) -> list[str]:
    with timed(f"batch {number}: Spark dbt build"):
        return build_on_spark(target_path, first=number == 1)


def compared(failures: list[str], number: int, spark: SparkSession) -> Round:
    with timed(f"batch {number}: compare"):
        return compare(failures, spark)


@pytest.fixture(scope="module")
def spark_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("spark-equality")
    with environment_variable("SPARK_HOME_DIR", str(home)):
        yield home


@pytest.fixture(scope="module")
def rounds(
    module_warehouse_db: str, module_raw_bucket: str, spark_home: Path
) -> tuple[Round, Round]:
    """Both rounds. A JVM starts for each Spark step that is not dbt's (Derby admits one
    process at a time, and a start costs 10 to 30 s here): the first load; the first
    comparison with the second load; the second comparison."""
    target = spark_home / "dbt-target"
    with spark_for() as spark:
        write_and_load(module_raw_bucket, FIRST_BATCH, 1, spark)
    failures = spark_build(target, 1)
    with spark_for() as spark:
        first = compared(failures, 1, spark)
        write_and_load(module_raw_bucket, SECOND_BATCH, 2, spark)
    failures = spark_build(target, 2)
    with spark_for() as spark:
        second = compared(failures, 2, spark)
    return first, second


def test_every_mart_is_equal_after_the_first_build(rounds: tuple[Round, Round]) -> None:
    first = rounds[0]
    assert not first.report(), "PostgreSQL and Spark differ:\n" + first.report()


def test_every_mart_is_equal_after_an_incremental_build(rounds: tuple[Round, Round]) -> None:
    second = rounds[1]
    assert not second.report(), "PostgreSQL and Spark differ:\n" + second.report()
