"""The table comparison the Spark equality test relies on (tests/integration/table_diff.py):
it must see every kind of difference, and none where the values mean the same."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from tests.integration.table_diff import diff_table

ROWS = [
    {"day": date(2026, 3, 2), "at": datetime(2026, 3, 2, 10, tzinfo=UTC), "rate": Decimal("0.25")},
    {"day": date(2026, 3, 3), "at": datetime(2026, 3, 3, 11, tzinfo=UTC), "rate": None},
]


def test_the_same_values_in_other_types_and_order_match() -> None:
    paris = timezone(timedelta(hours=1))
    other = [
        {"day": date(2026, 3, 3), "at": datetime(2026, 3, 3, 11), "rate": None},
        {"day": date(2026, 3, 2), "at": datetime(2026, 3, 2, 11, tzinfo=paris), "rate": 0.25},
    ]
    assert diff_table(ROWS, other) == []


def test_floats_match_within_the_relative_tolerance_only() -> None:
    near = [{"x": 1 / 3}]
    assert diff_table(near, [{"x": 1 / 3 * (1 + 1e-12)}]) == []
    problems = diff_table(near, [{"x": 1 / 3 * (1 + 1e-6)}])
    assert len(problems) == 1
    assert problems[0].startswith("column x: 1 values only on PostgreSQL")


def test_missing_rows_columns_and_moved_values_are_reported() -> None:
    assert diff_table(ROWS, ROWS[:1]) == [
        "rows: 2 on PostgreSQL, 1 on Spark",
        "column at: 1 values only on PostgreSQL (e.g. ('instant', 1772535600000000)),"
        " 0 only on Spark (e.g. )",
        "column day: 1 values only on PostgreSQL (e.g. ('date', '2026-03-03')),"
        " 0 only on Spark (e.g. )",
        "column rate: 1 values only on PostgreSQL (e.g. None), 0 only on Spark (e.g. )",
    ]
    extra = [{**row, "more": 1} for row in ROWS]
    assert diff_table(ROWS, extra) == ["columns only on Spark: more"]
    swapped = [{**ROWS[0], "rate": None}, {**ROWS[1], "rate": Decimal("0.25")}]
    (problem,) = diff_table(ROWS, swapped)
    assert problem.startswith("2 rows pair the same values differently")
