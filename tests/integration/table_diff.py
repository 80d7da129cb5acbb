"""Row-for-row comparison of one table read from two warehouses (PostgreSQL and Spark),
ordering-independent, that says WHICH columns differ and shows examples.

Values are compared as what they mean: numbers (int, Decimal, float) within a relative
tolerance, timestamps as UTC instants (a naive one is taken as UTC), dates, text, None."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

REL_TOL = 1e-9
EXAMPLES = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Row = Mapping[str, Any]


def normalize(value: Any) -> Any:
    """A comparable, hashable form: numbers as float, instants as UTC microseconds."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return ("instant", (aware - _EPOCH) // timedelta(microseconds=1))
    if isinstance(value, date):
        return ("date", value.isoformat())
    if isinstance(value, timedelta):
        return ("interval", value // timedelta(microseconds=1))
    if isinstance(value, list | tuple):
        return tuple(normalize(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def same(left: Any, right: Any) -> bool:
    """Two normalized values equal (floats within REL_TOL relative)."""
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return math.isclose(left, right, rel_tol=REL_TOL, abs_tol=0.0)
    if isinstance(left, tuple) and isinstance(right, tuple):
        return len(left) == len(right) and all(map(same, left, right))
    return type(left) is type(right) and left == right


def _sort_key(value: Any) -> tuple[int, Any]:
    """Orders values of mixed types; floats rounded so that near-equal ones sort together."""
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, float):
        return (2, float(f"{value:.8g}")) if math.isfinite(value) else (2, str(value))
    if isinstance(value, tuple):
        return (3, tuple(_sort_key(item) for item in value))
    return (4, str(value))


def _row_key(row: Sequence[Any]) -> tuple[tuple[int, Any], ...]:
    return tuple(_sort_key(value) for value in row)


def _show(values: Iterable[Any]) -> str:
    return ", ".join(repr(value) for value in list(values)[:EXAMPLES])


def _column_difference(
    expected: list[Any], actual: list[Any], names: tuple[str, str]
) -> str | None:
    """How one column's values differ as multisets (None: they are the same)."""
    expected_sorted = sorted(expected, key=_sort_key)
    actual_sorted = sorted(actual, key=_sort_key)
    if len(expected_sorted) == len(actual_sorted) and all(
        map(same, expected_sorted, actual_sorted)
    ):
        return None
    by_key = {_sort_key(value): value for value in [*expected, *actual]}
    expected_counts = Counter(_sort_key(value) for value in expected)
    actual_counts = Counter(_sort_key(value) for value in actual)
    only_expected = [by_key[key] for key in (expected_counts - actual_counts).elements()]
    only_actual = [by_key[key] for key in (actual_counts - expected_counts).elements()]
    return (
        f"{len(only_expected)} values only on {names[0]} (e.g. {_show(only_expected)}),"
        f" {len(only_actual)} only on {names[1]} (e.g. {_show(only_actual)})"
    )


def diff_table(
    expected_rows: Sequence[Row],
    actual_rows: Sequence[Row],
    *,
    names: tuple[str, str] = ("PostgreSQL", "Spark"),
    ignore: Iterable[str] = (),
) -> list[str]:
    """What differs between the two sides of a table: [] when every row matches."""
    first, second = names
    problems: list[str] = []
    expected_columns = set(expected_rows[0]) if expected_rows else set()
    actual_columns = set(actual_rows[0]) if actual_rows else set()
    if expected_rows and actual_rows:
        if only := sorted(expected_columns - actual_columns):
            problems.append(f"columns only on {first}: {', '.join(only)}")
        if only := sorted(actual_columns - expected_columns):
            problems.append(f"columns only on {second}: {', '.join(only)}")
    if len(expected_rows) != len(actual_rows):
        problems.append(f"rows: {len(expected_rows)} on {first}, {len(actual_rows)} on {second}")
    columns = sorted((expected_columns & actual_columns) - set(ignore))
    if not columns:
        return problems
    expected = [tuple(normalize(row[c]) for c in columns) for row in expected_rows]
    actual = [tuple(normalize(row[c]) for c in columns) for row in actual_rows]
    for index, column in enumerate(columns):
        difference = _column_difference(
            [row[index] for row in expected], [row[index] for row in actual], names
        )
        if difference is not None:
            problems.append(f"column {column}: {difference}")
    if len(expected) == len(actual):
        pairs = zip(sorted(expected, key=_row_key), sorted(actual, key=_row_key), strict=True)
        differing = [(left, right) for left, right in pairs if not all(map(same, left, right))]
        if differing and not any(p.startswith("column ") for p in problems):
            # every column holds the same values, yet they are combined into other rows
            left, right = differing[0]
            problems.append(
                f"{len(differing)} rows pair the same values differently, e.g."
                f" {dict(zip(columns, left, strict=True))} on {first},"
                f" {dict(zip(columns, right, strict=True))} on {second}"
            )
    return problems
