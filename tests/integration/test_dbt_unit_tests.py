"""Every dbt unit test of the project, on PostgreSQL. The rest of the suite's builds leave
them out (tests/conftest.py): their inputs are fixed rows, so once per suite is enough."""

from __future__ import annotations

import pytest

from clickstream.warehouse import connect
from extract_load.schema import ensure_schema
from tests.integration.dbt_support import dbt_result


def test_every_dbt_unit_test_passes(warehouse_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBT_EXCLUDE_RESOURCE_TYPES")
    with connect() as conn:  # the loader's tables, empty: the models' inputs
        ensure_schema(conn)
    conn.close()
    result = dbt_result("build")
    results = result.result or []
    assert result.success, [
        f"{item.node.name}: {item.status} {item.message}"
        for item in results
        if item.status not in ("pass", "success")
    ]
    unit_tests = [item for item in results if item.node.resource_type == "unit_test"]
    assert len(unit_tests) >= 17  # every one of them ran
