"""`make lint` and `make format` on SQL: sqlfluff on every model, in both shapes dbt compiles
it to.

sqlfluff lints the SQL dbt compiles, and dbt compiles an incremental model's
`is_incremental()` branch only when the model's table exists; the macros behind those
branches also read the warehouse (the hours, days and products a run touched) and write
nothing into the SQL when it is empty. So one pass over one database lints either the
first-build SQL or the incremental SQL, never both.

With `--both-shapes` (the Makefile passes it on the embedded default, in a database of the
lint's own), this re-creates the database empty and runs sqlfluff (first-build branches), then
loads a few generated events, builds the warehouse on them with `dbt run` and runs it again
(incremental branches, every loop over touched keys taking at least one turn). Without it,
one pass against the database as it is: lint never builds in a warehouse named by PGHOST.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

from psycopg2.extras import execute_values

from clickstream.config import PROJECT_ROOT
from clickstream.warehouse import connect, create_database
from devtools.dbt_cli import DbtFailedError, run_dbt
from devtools.traffic import generate_requests
from extract_load.schema import ensure_schema

# Enough for sessions that reach a purchase, on two days: small enough to build in seconds.
SAMPLE_EVENTS = 300
SAMPLE_DAYS = 2
SAMPLE_START = date(2026, 1, 5)


def run_sqlfluff(command: str, paths: list[str]) -> int:
    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    argv = [str(sqlfluff), command, *paths]
    return subprocess.run(argv, cwd=PROJECT_ROOT, check=False).returncode


def load_sample_events() -> None:
    """The loader's tables, holding a few generated raw lines as one load."""
    rows = []
    for request in generate_requests(SAMPLE_EVENTS, SAMPLE_DAYS, SAMPLE_START, seed=7):
        key = request.object_key("raw/")
        for line_number, line in enumerate(request.ndjson().splitlines(), start=1):
            rows.append((line.decode(), key, line_number))
    conn = connect()
    try:
        ensure_schema(conn)
        with conn, conn.cursor() as cursor:
            execute_values(
                cursor,
                "insert into staging.raw_events (payload, s3_key, line_number, load_id) values %s",
                rows,
                template=f"(%s::jsonb, %s, %s, '{uuid.uuid4()}')",
            )
    finally:
        conn.close()


def build_sample_warehouse(*dbt_arguments: str) -> None:
    """The warehouse built by `dbt run` on a few generated events, in the database PGDATABASE
    names: from there every incremental model compiles its incremental SQL."""
    load_sample_events()
    run_dbt("seed", *dbt_arguments, quiet=True)  # the channel grouping reads channel_sources
    run_dbt("run", *dbt_arguments, quiet=True)
    # The models' records of what they have processed would start the next run after the
    # sample's lines, and compile it with nothing touched: forget them, so that it reads the
    # sample again (the lookback rule) and the SQL holds real hours, days and products.
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute("delete from dbt_intermediate.models_processed_through")
    conn.close()


def both_shapes(command: str, paths: list[str]) -> int:
    database = os.environ["PGDATABASE"]
    create_database(database, replace=True)
    print(f"== sqlfluff {command}: first-build SQL (database {database}, empty)", flush=True)
    first_build = run_sqlfluff(command, paths)
    print("== dbt run on a few generated events, for the incremental SQL", flush=True)
    try:
        build_sample_warehouse()
    except DbtFailedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"== sqlfluff {command}: incremental SQL (database {database}, built)", flush=True)
    incremental = run_sqlfluff(command, paths)
    return first_build or incremental


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.sql_lint", description=__doc__)
    parser.add_argument("command", choices=["lint", "fix"], help="the sqlfluff command")
    parser.add_argument("paths", nargs="*", default=["dbt_project"])
    parser.add_argument(
        "--both-shapes",
        action="store_true",
        help="re-create the database PGDATABASE names, run sqlfluff, build the warehouse on a few"
        " generated events, run sqlfluff again",
    )
    args = parser.parse_args(argv)
    if args.both_shapes:
        return both_shapes(args.command, args.paths)
    return run_sqlfluff(args.command, args.paths)


if __name__ == "__main__":
    raise SystemExit(main())
