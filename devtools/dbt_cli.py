"""Runs the project's dbt (the one installed beside this Python) on dbt_project/ with the
profiles in profiles/, which read the PG* variables."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from clickstream.config import PROJECT_ROOT
from clickstream.errors import TerminalError

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_PROFILES_DIR = PROJECT_ROOT / "profiles"


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
