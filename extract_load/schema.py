"""Creates the loader-owned `staging` schema (idempotent)."""

from __future__ import annotations

from pathlib import Path

from psycopg2.extensions import connection

SCHEMA_SQL = Path(__file__).with_name("schema.sql")

# Two processes creating the schema at once would race on the catalog; serialise them.
_SCHEMA_LOCK_KEY = 0x636C6B73  # "clks"


def ensure_schema(conn: connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute("select pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        cursor.execute(SCHEMA_SQL.read_text())
    conn.commit()
