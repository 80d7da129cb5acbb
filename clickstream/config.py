"""Typed settings, read from the environment in one place (see design.md, "Configuration")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clickstream.errors import TerminalError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "clickstream_dw"
DEFAULT_BUCKET = "clickstream-s3-ingest"
DEFAULT_PREFIX = "events/"


@dataclass(frozen=True)
class Settings:
    """Where raw events live. The warehouse itself is addressed by libpq's PG* variables,
    which psycopg2 and the dbt profile read directly."""

    raw_bucket: str = DEFAULT_BUCKET
    raw_prefix: str = DEFAULT_PREFIX

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        prefix = environ.get("RAW_PREFIX", DEFAULT_PREFIX)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(
            raw_bucket=environ.get("RAW_BUCKET", DEFAULT_BUCKET),
            raw_prefix=prefix,
        )


def raw_retention_days(environ: Mapping[str, str] = os.environ) -> int | None:
    """RAW_RETENTION_DAYS: days of raw lines `python -m extract_load prune` keeps in
    staging.raw_events; None (unset or empty) keeps them forever. Read by the prune alone, not
    by Settings: a wrong value must stop the prune, never the ingest or the load."""
    text = environ.get("RAW_RETENTION_DAYS", "")
    if not text.strip():
        return None
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        raise TerminalError(
            f"RAW_RETENTION_DAYS must be a whole number of days >= 1 (or unset), got {text!r}"
        )
    return days
