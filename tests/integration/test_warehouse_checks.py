"""What an incremental `dbt build` checks (macros/checked_windows.sql): the rows it changed,
not the whole history; a build that failed is checked again until it passes; and
`full_checks: true` checks every row. How a new mart joins that (its watermark column, or a
loud error). And how far invalid_events has read the raw lines (macros/incremental_window.sql)."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from clickstream.config import Settings
from clickstream.raw_layout import encode_ndjson, format_timestamp, ingest_block, raw_object_key
from clickstream.storage import s3_client
from devtools.traffic import generate_requests, write_requests_to_s3
from extract_load.loader import load_new_objects
from tests.integration.dbt_support import DBT_PROJECT, dbt, dbt_result, execute, query

pytestmark = pytest.mark.slow

LOAD_SINCE = datetime(2026, 1, 1, tzinfo=UTC)
SESSION_NOT_NULL = "not_null_clickstream_events_session_id"


def _load(bucket: str, day: date, seed: int, days_ago: int) -> None:
    """Load 200 events of `day`, as if the loader had run `days_ago` days ago."""
    prefix = Settings.from_env().raw_prefix
    write_requests_to_s3(generate_requests(200, 1, day, seed=seed), bucket, prefix, s3_client())
    load_new_objects(LOAD_SINCE)
    _as_if_loaded_days_ago("loaded_at > now() - interval '10 minutes'", days_ago)


def _as_if_loaded_days_ago(lines: str, days_ago: int, *parameters: Any) -> None:
    """Move the load of the raw `lines` (a condition) `days_ago` days back. The builds that
    ran before it then ran before that day too: what they recorded as processed
    (macros/safe_point.sql) moves back before the lines, as a build of that day would have
    left it."""
    moved = f"from staging.raw_events where {lines}"
    ((earliest,),) = query(f"select min(loaded_at) - make_interval(days => %s) {moved}",
                           days_ago, *parameters)  # fmt: skip
    execute(
        f"update staging.raw_events set loaded_at = loaded_at - make_interval(days => %s)"
        f" where {lines}",
        days_ago,
        *parameters,
    )
    if query("select to_regclass('dbt_intermediate.models_processed_through')") != [(None,)]:
        execute(
            "update dbt_intermediate.models_processed_through"
            " set loaded_at = least(loaded_at, %s - interval '1 second')",
            earliest,
        )


def _break_one_session_id(loaded: str) -> None:
    """Null the session_id of one kept event among the `loaded` ones ('old' or 'new')."""
    newest = "(select max(loaded_at) from public.clickstream_events)"
    where = (
        f"loaded_at < {newest} - interval '1 day'" if loaded == "old" else (f"loaded_at = {newest}")
    )
    execute(
        "update public.clickstream_events set session_id = null where event_id ="
        f" (select event_id from public.clickstream_events where {where} limit 1)"
    )


def _passed_through() -> list[tuple[object, ...]]:
    return query("select * from dbt_intermediate.tests_passed_through order by relation_name")


def _failed_tests(*arguments: str) -> set[str]:
    items: Any = dbt_result(*arguments).result or []  # a RunExecutionResult's node results
    return {
        item.node.name for item in items if str(getattr(item, "status", "")) in ("fail", "error")
    }


def test_builds_check_their_new_rows_until_they_pass_and_full_checks_every_row(
    warehouse_db: str, raw_bucket: str
) -> None:
    _load(raw_bucket, date(2026, 3, 2), seed=1, days_ago=2)
    dbt("build")
    _load(raw_bucket, date(2026, 3, 3), seed=2, days_ago=1)
    dbt("build")
    passed_through = _passed_through()
    assert len(passed_through) >= 7  # every mart with a row (maybe no invalid line)

    _break_one_session_id("old")
    assert _failed_tests("test") == set()  # outside the window of the last build
    assert SESSION_NOT_NULL in _failed_tests("test", "--vars", "{full_checks: true}")

    _break_one_session_id("new")
    assert SESSION_NOT_NULL in _failed_tests("test")
    _load(raw_bucket, date(2026, 3, 4), seed=3, days_ago=0)
    assert SESSION_NOT_NULL in _failed_tests("build")
    # the failed build recorded nothing: the next one checks the same rows again
    assert SESSION_NOT_NULL in _failed_tests("build")
    assert _passed_through() == passed_through


NEW_MART_MODELS = """
version: 2
models:
  - name: fct_new
    description: A mart added to the project.
    columns:
      - name: id
        description: Its key.
        data_tests: [not_null]
"""


def _project_with_a_new_mart(tmp_path: Path, config: str) -> Path:
    """A copy of the dbt project with one more incremental mart, configured by `config`."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    mart = project / "models" / "marts" / "new"
    mart.mkdir()
    (mart / "fct_new.sql").write_text(
        f"{{{{ config({config}) }}}}\nselect 1 as id, now() as last_loaded_at\n"
    )
    (mart / "_new__models.yml").write_text(NEW_MART_MODELS)
    return project


def test_an_incremental_mart_that_declares_no_watermark_column_stops_every_run(
    warehouse_db: str, tmp_path: Path
) -> None:
    project = _project_with_a_new_mart(tmp_path, "materialized='incremental'")
    for command in ("run", "build", "test"):
        result = dbt_result(
            command, "--select", "fct_new", project_dir=project, target_path=tmp_path / "target"
        )
        assert not result.success
        message = str(result.exception)
        assert "Model 'fct_new' is incremental but declares no watermark column" in message
        assert "meta={'watermark_column': '<column>'}" in message
    assert query("select to_regclass('public.fct_new')") == [(None,)]


def test_a_new_mart_that_declares_its_watermark_column_joins_the_checked_windows(
    warehouse_db: str, tmp_path: Path
) -> None:
    config = "materialized='incremental', meta={'watermark_column': 'last_loaded_at'}"
    project = _project_with_a_new_mart(tmp_path, config)
    result = dbt_result(
        "build", "--select", "fct_new", project_dir=project, target_path=tmp_path / "target"
    )
    assert result.success, result.exception
    assert query(
        "select relation_name from dbt_intermediate.tests_passed_through"
        " where loaded_at = (select last_loaded_at from public.fct_new)"
    ) == [("fct_new",)]


def _errors(*arguments: str) -> str:
    """What a dbt command that must fail said: its error, or its nodes' errors."""
    result = dbt_result(*arguments)
    assert not result.success
    items: Any = result.result or []  # a RunExecutionResult's node results
    return " ".join([str(result.exception), *(str(item.message) for item in items)])


def test_revenue_never_mixes_reporting_currencies(warehouse_db: str, raw_bucket: str) -> None:
    """An incremental run in another reporting currency would add revenue in one currency to
    rows in another: it stops and says to rebuild; a full refresh rebuilds every row in it."""
    _load(raw_bucket, date(2026, 3, 2), seed=1, days_ago=0)
    dbt("build")
    mart = ["run", "--select", "fct_product_performance_daily"]
    errors = _errors(*mart, "--vars", "{reporting_currency: USD}")
    assert "holds revenue in EUR but var reporting_currency is USD" in errors
    assert "full refresh" in errors

    dbt(*mart, "--full-refresh", "--vars", "{reporting_currency: USD}")
    currencies = query("select distinct currency from public.fct_product_performance_daily")
    assert currencies == [("USD",)]

    errors = _errors(*mart, "--vars", "{reporting_currency: usd}")
    assert "var reporting_currency must be a three-letter ISO 4217 code in capitals" in errors


def _load_invalid_line(bucket: str, days_ago: int) -> str:
    """Load one line that breaks the contract (a bad event_id), as if `days_ago`; its s3_key."""
    received_at = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    event = {
        "event_id": "not-a-uuid",
        "event_timestamp": format_timestamp(received_at),
        "event_name": "page_view",
        "session_id": "s-invalid",
        "client_id": "c-invalid",
        "ingest": ingest_block(received_at, str(uuid.uuid4()), "192.0.2.1", "pytest"),
    }
    key = raw_object_key(Settings.from_env().raw_prefix, received_at)
    s3_client().put_object(Bucket=bucket, Key=key, Body=encode_ndjson([event]))
    load_new_objects(LOAD_SINCE)
    _as_if_loaded_days_ago("s3_key = %s", days_ago, key)
    return key


def test_invalid_events_read_on_from_where_they_stopped(warehouse_db: str, raw_bucket: str) -> None:
    """invalid_events records how far it read the raw lines (invalid lines are rare: its own
    newest row says little) and never borrows clickstream_events' watermark, which a build
    may move without it."""
    _load(raw_bucket, date(2026, 3, 2), seed=1, days_ago=2)
    dbt("build")
    read_through = "select loaded_at from dbt_intermediate.raw_lines_read_through"
    assert query(read_through) == query("select max(loaded_at) from staging.raw_events")

    key = _load_invalid_line(raw_bucket, days_ago=1)
    _load(raw_bucket, date(2026, 3, 3), seed=2, days_ago=0)
    dbt("run", "--select", "+clickstream_events")  # its watermark moves past the invalid line
    dbt("build")
    assert query("select event_id from public.invalid_events where s3_key = %s", key) == [
        ("not-a-uuid",)
    ]
    assert query(read_through) == query("select max(loaded_at) from staging.raw_events")


@pytest.mark.parametrize(
    "break_the_books",
    [
        # a kept event lost: its raw line is now no event's copy
        "delete from public.clickstream_events"
        " where event_id = (select min(event_id) from public.clickstream_events)",
        # an invalid line lost
        "delete from public.invalid_events"
        " where s3_key = (select min(s3_key) from public.invalid_events)",
        # a kept event that points at no raw line
        "update public.clickstream_events set line_number = line_number + 100000"
        " where event_id = (select min(event_id) from public.clickstream_events)",
    ],
)
def test_the_reconciliation_fails_when_a_line_is_not_accounted_for(
    warehouse_db: str, raw_bucket: str, break_the_books: str
) -> None:
    _load(raw_bucket, date(2026, 3, 2), seed=1, days_ago=0)
    _load_invalid_line(raw_bucket, days_ago=0)
    dbt("build")
    assert "assert_raw_lines_reconcile" not in _failed_tests("test")
    execute(break_the_books)
    assert "assert_raw_lines_reconcile" in _failed_tests("test")
