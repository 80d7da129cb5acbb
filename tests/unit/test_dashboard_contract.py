"""The dashboards' test marts (tests/dashboard_data.py) have the columns the dbt project
documents for those marts: the known dataset the dashboard tests use is shaped like what
`dbt build` makes, so the tests' numbers mean something for the real warehouse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from clickstream.config import PROJECT_ROOT
from tests import dashboard_data

MARTS_DIR = PROJECT_ROOT / "dbt_project" / "models" / "marts"


def _test_mart_columns() -> dict[str, list[str]]:
    tables = re.findall(r"create table public\.(\w+) \((.*?)\n\);", dashboard_data.MARTS_DDL, re.S)
    return {name: [line.split()[0] for line in body.strip().splitlines()] for name, body in tables}


def _dbt_documented_columns() -> dict[str, set[str]]:
    documented: dict[str, set[str]] = {}
    for path in Path(MARTS_DIR).rglob("_*__models.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            documented[model["name"]] = {column["name"] for column in model.get("columns", [])}
    return documented


@pytest.mark.skipif(not MARTS_DIR.exists(), reason="no dbt marts in this checkout")
def test_every_test_mart_column_is_a_documented_dbt_column() -> None:
    documented = _dbt_documented_columns()
    test_marts = _test_mart_columns()
    assert set(test_marts) == {
        "fct_funnel_daily",
        "dim_products",
        "fct_product_performance_daily",
        "fct_activity_hourly",
        "fct_activity_daily",
        "fct_traffic_daily",
        "fct_users_daily",
        "fct_retention_weekly",
        "invalid_events",
    }
    for mart, columns in test_marts.items():
        assert mart in documented, f"dbt has no model {mart}"
        missing = [column for column in columns if column not in documented[mart]]
        assert missing == [], f"{mart}: not in the dbt model's columns: {missing}"
