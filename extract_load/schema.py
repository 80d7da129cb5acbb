"""Creates the loader-owned `staging` schema (idempotent)."""

from __future__ import annotations

from pathlib import Path

from psycopg2.extensions import connection, cursor

SCHEMA_SQL = Path(__file__).with_name("schema.sql")

# Two processes creating the schema at once would race on the catalog; serialise them.
_SCHEMA_LOCK_KEY = 0x636C6B73  # "clks"

# Adds one batch's objects and lines to its run's row (in the batch's own transaction).
ADD_TO_LOAD_RUN_SQL = """
insert into staging.load_runs as runs
    (load_id, first_loaded_at, loaded_at, objects, lines_loaded, lines_rejected)
values (%(load_id)s, now(), now(), %(objects)s, %(lines_loaded)s, %(lines_rejected)s)
on conflict (load_id) do update set
    loaded_at = excluded.loaded_at,
    objects = runs.objects + excluded.objects,
    lines_loaded = runs.lines_loaded + excluded.lines_loaded,
    lines_rejected = runs.lines_rejected + excluded.lines_rejected
"""


def ensure_schema(conn: connection) -> None:
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        cur.execute("select to_regclass('staging.load_runs') is null")
        row = cur.fetchone()
        load_runs_is_new = bool(row and row[0])
        cur.execute(SCHEMA_SQL.read_text())
        if load_runs_is_new:
            rebuild_load_runs(cur)
    conn.commit()


def rebuild_load_runs(cur: cursor) -> None:
    """Recompute staging.load_runs from the manifest (for a warehouse loaded before the
    table existed, or after rows were written to the manifest by hand).

    The rows of runs that loaded no object (objects = 0) are kept as they are: the manifest
    has no trace of them to rebuild them from, and nothing of theirs can be out of step with
    it. Every other run is recomputed, and a run none of whose objects is left in the manifest
    (they were deleted to be loaded again) disappears."""
    cur.execute("delete from staging.load_runs where objects > 0")
    cur.execute(
        """
        insert into staging.load_runs
            (load_id, first_loaded_at, loaded_at, objects, lines_loaded, lines_rejected)
        select load_id, min(loaded_at), max(loaded_at), count(*),
               sum(lines_loaded), sum(lines_rejected)
        from staging.load_manifest
        group by load_id
        on conflict (load_id) do update set
            first_loaded_at = excluded.first_loaded_at,
            loaded_at = excluded.loaded_at,
            objects = excluded.objects,
            lines_loaded = excluded.lines_loaded,
            lines_rejected = excluded.lines_rejected
        """
    )
