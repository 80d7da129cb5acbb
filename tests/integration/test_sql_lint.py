"""`make lint` lints the incremental SQL only if its second sqlfluff pass compiles it: after
devtools/sql_lint.py's sample build, every incremental model must compile to other SQL
than on an empty database, with every loop over the touched keys taking a turn."""

from __future__ import annotations

from pathlib import Path

from devtools.sql_lint import build_sample_warehouse
from tests.integration.dbt_support import dbt


def compiled_incremental_models(target_path: Path) -> dict[str, str]:
    selection = ["--select", "config.materialized:incremental", "--indirect-selection", "empty"]
    dbt("compile", *selection, target_path=target_path)
    models = target_path / "compiled" / "clickstream" / "models"
    return {path.stem: path.read_text() for path in models.rglob("*.sql")}


def test_the_sample_build_makes_every_incremental_model_compile_its_incremental_sql(
    warehouse_db: str, tmp_path: Path
) -> None:
    first_build = compiled_incremental_models(tmp_path / "empty")
    build_sample_warehouse("--target-path", str(tmp_path / "run"))
    incremental = compiled_incremental_models(tmp_path / "built")

    assert incremental.keys() == first_build.keys()
    assert len(incremental) >= 8, sorted(incremental)
    assert [name for name in incremental if incremental[name] == first_build[name]] == []
    # the touched hours, days and products are there as literals, not the empty fallbacks
    assert "event_timestamp >= '" in incremental["fct_activity_hourly"]
    assert "where false" not in incremental["fct_activity_hourly"]
    assert "'::date" in incremental["fct_activity_daily"]
    assert "in (null)" not in incremental["fct_activity_daily"]
    assert "as latest_brand on true" in incremental["dim_products"]
