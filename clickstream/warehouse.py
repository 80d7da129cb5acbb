"""Connections to the warehouse. libpq's PG* variables say where it is."""

from __future__ import annotations

import os
from typing import Any

import psycopg2
from psycopg2.extensions import connection

from clickstream.errors import WarehouseUnreachableError


def describe_target() -> str:
    """Where the PG* variables point, for messages (never the password)."""
    host = os.environ.get("PGHOST", "localhost")
    port = os.environ.get("PGPORT", "5432")
    database = os.environ.get("PGDATABASE", os.environ.get("PGUSER", ""))
    return f"postgresql://{host}:{port}/{database}"


def connect(**overrides: Any) -> connection:
    """Open a connection from the PG* environment; WarehouseUnreachableError says why not."""
    overrides.setdefault("connect_timeout", 10)
    overrides.setdefault("application_name", "clickstream-warehouse")
    try:
        return psycopg2.connect(**overrides)
    except psycopg2.OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise WarehouseUnreachableError(
            f"cannot reach the warehouse at {describe_target()}: {first_line}"
        ) from error
