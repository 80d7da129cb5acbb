"""Runs the project's dbt (the one installed beside this Python) on dbt_project/ with the
profiles in profiles/, which read the PG* variables."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clickstream.config import PROJECT_ROOT
from clickstream.errors import TerminalError

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_PROFILES_DIR = PROJECT_ROOT / "profiles"
RUN_RESULTS = DBT_PROJECT_DIR / "target" / "run_results.json"


class DbtFailedError(TerminalError):
    """dbt exited non-zero: a model failed to build or a test failed."""


def dbt_command(*arguments: str) -> list[str]:
    """`dbt ARGUMENTS --project-dir dbt_project --profiles-dir profiles`."""
    dbt = Path(sys.executable).with_name("dbt")
    return [
        str(dbt),
        *arguments,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROFILES_DIR),
    ]


def run_dbt(*arguments: str, env: Mapping[str, str] | None = None, quiet: bool = False) -> None:
    """Run dbt; raise DbtFailedError (with its last lines when quiet) if it fails."""
    completed = subprocess.run(
        dbt_command(*arguments),
        env=None if env is None else dict(env),
        cwd=PROJECT_ROOT,
        check=False,
        capture_output=quiet,
        text=True,
    )
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout or "").splitlines()[-30:]) if quiet else ""
        raise DbtFailedError(
            f"dbt {' '.join(arguments)} failed (exit {completed.returncode})\n{tail}"
        )


def run_results(path: Path = RUN_RESULTS) -> list[dict[str, Any]]:
    """The node results of the last dbt run (its run_results.json); [] when dbt stopped
    before writing them."""
    try:
        results: list[dict[str, Any]] = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    return results


def models_out_of_sync(path: Path = RUN_RESULTS) -> list[str]:
    """The incremental models the last dbt run refused because their table's columns differ
    from the model's (built by an earlier version of the models, before a column was added)."""
    return sorted(
        result["unique_id"].rsplit(".", 1)[-1]
        for result in run_results(path)
        if result.get("status") == "error" and "out of sync" in (result.get("message") or "")
    )
