"""Loader benchmark (issue 2, section 6): 1,000,000 generated events in about 1,000 objects.

Measured in the same run, each in its own process, on a dedicated database (`bench_loader`)
and bucket (`bench-loader`):
- bare: list the objects, fetch them (as many threads as the loader) and COPY their lines,
  with key and line number, into a table like staging.raw_events in one transaction.
  Nothing else: no manifest, no rejects, no exactly-once.
- the loader: `load_new_objects` on the same objects, everything included.
- the loader's peak memory (RSS high-water mark of its process) at 250,000 and 1,000,000
  events, to show it does not grow with the input.

    python -m devtools.services exec -- .venv/bin/python -m bench loader
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import date
from pathlib import Path

import psycopg2

from bench.report import write_section
from bench.support import run_script
from clickstream.storage import s3_client
from clickstream.warehouse import create_database
from devtools.buckets import create_bucket_if_missing, delete_objects
from devtools.traffic import generate_requests, write_requests_to_s3

DATABASE = "bench_loader"
BUCKET = "bench-loader"
BIG_EVENTS = 1_000_000
SMALL_EVENTS = 250_000
EVENTS_PER_OBJECT = 1000
START = date(2026, 3, 2)
SEED = 2026
ROUNDS = 2

# Runs in a fresh process: the bare fetch + COPY. Prints a JSON line.
BARE = r"""
import json, os, time, uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from bench.bench_loader import peak_rss
from bench.support import BytesReader, fetch_object
from clickstream.storage import s3_client
from clickstream.warehouse import connect
from devtools.buckets import object_keys
from extract_load.loader import PREFETCH_WORKERS

bucket, prefix = os.environ["RAW_BUCKET"], os.environ["RAW_PREFIX"]
started = time.monotonic()
client = s3_client()
keys = list(object_keys(client, bucket, prefix))
load_id = str(uuid.uuid4()).encode()
def fetched(keys):
    # As many threads as the loader's prefetch, twice as many objects fetched ahead of the COPY.
    with ThreadPoolExecutor(PREFETCH_WORKERS) as pool:
        ahead = deque()
        for key in keys:
            ahead.append(pool.submit(fetch_object, client, bucket, key))
            if len(ahead) >= 2 * PREFETCH_WORKERS:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
conn = connect()
lines = 0
with conn.cursor() as cursor:
    for key, body in fetched(keys):
        prefix_bytes = b"\x01" + key.encode() + b"\x01\x02" + load_id + b"\x02"
        rows = [b"%s%d\x02\x01%s\x01\n" % (prefix_bytes, number, line)
                for number, line in enumerate(body.splitlines(), start=1)]
        lines += len(rows)
        cursor.copy_expert(
            "copy bench_bare (s3_key, load_id, line_number, payload) from stdin"
            " with (format csv, delimiter e'\\x02', quote e'\\x01')",
            BytesReader(b"".join(rows)))
conn.commit()
seconds = time.monotonic() - started
print(json.dumps({"objects": len(keys), "lines": lines, "seconds": seconds,
                  "peak_rss": peak_rss()}))
"""

# Runs in a fresh process: the loader. Prints a JSON line.
LOADER = r"""
import json
from bench.bench_loader import peak_rss
from extract_load.loader import load_new_objects
summary = load_new_objects()
print(json.dumps({"objects": summary.objects, "lines": summary.lines_loaded,
                  "rejected": summary.lines_rejected, "seconds": summary.seconds,
                  "peak_rss": peak_rss()}))
"""


def peak_rss() -> int:
    """This process's RSS high-water mark (VmHWM). Not getrusage's ru_maxrss: Linux carries
    that over from the parent across fork and exec, so a child would report its parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _admin() -> psycopg2.extensions.connection:
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    return conn


def reset_tables() -> None:
    """Empty staging and the bare table between runs (same database, same kind of table)."""
    from extract_load.schema import ensure_schema

    conn = psycopg2.connect(dbname=DATABASE)
    ensure_schema(conn)
    with conn.cursor() as cursor:
        cursor.execute(
            "drop table if exists bench_bare;"
            " create table bench_bare (like staging.raw_events including all);"
            " truncate staging.raw_events, staging.load_manifest, staging.rejected_events;"
        )
    conn.commit()
    conn.close()
    with _admin() as admin, admin.cursor() as cursor:
        cursor.execute("checkpoint")


def write_input(prefix: str, events: int) -> tuple[int, float]:
    """A clean prefix with exactly `events` events (nothing left from another run). The
    input is deterministic: when a marker says this exact input was written, it is reused."""
    client = s3_client()
    create_bucket_if_missing(client, BUCKET)
    marker = f"markers/{prefix.strip('/')}-{events}-{SEED}-{EVENTS_PER_OBJECT}"
    with contextlib.suppress(client.exceptions.ClientError):
        objects = int(client.get_object(Bucket=BUCKET, Key=marker)["Body"].read())
        return objects, 0.0
    delete_objects(client, BUCKET, prefix)
    started = time.monotonic()
    requests = generate_requests(events, 1, START, SEED, retry_rate=0.0)
    written = write_requests_to_s3(
        requests, BUCKET, prefix, client, events_per_object=EVENTS_PER_OBJECT
    )
    client.put_object(Bucket=BUCKET, Key=marker, Body=str(written.objects).encode())
    return written.objects, time.monotonic() - started


def run(script: str, prefix: str) -> dict[str, float]:
    environment = {**os.environ, "PGDATABASE": DATABASE, "RAW_BUCKET": BUCKET}
    environment["RAW_PREFIX"] = prefix
    return run_script(script, environment)


def table_row(name: str, figures: dict[str, float]) -> str:
    rate = figures["lines"] / figures["seconds"]
    return (
        f"| {name} | {figures['objects']:,.0f} | {figures['lines']:,.0f} "
        f"| {figures['seconds']:.1f} | {rate:,.0f} | {mib(figures['peak_rss'])} |"
    )


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def main() -> None:
    create_database(DATABASE, replace=True)
    print(f"writing {BIG_EVENTS:,} and {SMALL_EVENTS:,} events to s3://{BUCKET}/", flush=True)
    big_objects, _ = write_input("big/", BIG_EVENTS)
    small_objects, _ = write_input("small/", SMALL_EVENTS)

    # Alternated, twice each: the machine is shared, so each keeps its faster run.
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "loader": []}
    for _ in range(ROUNDS):
        for name, script in (("bare", BARE), ("loader", LOADER)):
            reset_tables()
            runs[name].append(run(script, "big/"))
            print(f"{name}: {runs[name][-1]}", flush=True)
    reset_tables()
    small = run(LOADER, "small/")
    print(f"loader, small input: {small}", flush=True)
    bare = min(runs["bare"], key=lambda figures: figures["seconds"])
    loader = min(runs["loader"], key=lambda figures: figures["seconds"])
    assert loader["lines"] == bare["lines"] == BIG_EVENTS, (loader, bare)
    assert small["lines"] == SMALL_EVENTS, small
    all_seconds = ", ".join(
        name + " " + " / ".join(f"{figures['seconds']:.1f} s" for figures in measured)
        for name, measured in runs.items()
    )

    bare_rate = bare["lines"] / bare["seconds"]
    loader_rate = loader["lines"] / loader["seconds"]
    ratio = loader_rate / bare_rate
    body = f"""
Input: {BIG_EVENTS:,} generated events (seed {SEED}, no retried duplicates), packed by
hour into {big_objects:,} objects of about {EVENTS_PER_OBJECT:,} lines
(`devtools.traffic --events-per-object`) on the local S3 endpoint (moto). Each
measurement runs in its own process against the embedded PostgreSQL; both load into an
empty table of the same shape (`staging.raw_events`).
The machine's 2 cores are shared with the S3 endpoint and PostgreSQL (and with whatever else
runs on the machine), so absolute figures are noisy: bare and loader ran
alternately, {ROUNDS} times each ({all_seconds}); the table keeps each one's faster run.

| | objects | lines | seconds | events/s | peak RSS |
|---|---:|---:|---:|---:|---:|
{table_row("bare fetch + COPY", bare)}
{table_row("loader (`load_new_objects`)", loader)}

**Loader / bare: {ratio:.2f}** (target ≥ 0.70). The bare run lists, fetches (as many
threads as the loader) and COPYs the same lines with their key and line number in one
transaction, and does nothing else; the loader also claims each batch of objects in the
manifest, checks every line for what Python can judge cheaply, parses the user agents
`staging.user_agents` does not hold yet, commits batch by batch and writes the manifest
counts.

Peak memory of the loader process (RSS high-water mark, target ≤ 300 MB, flat):

| input | objects | peak RSS |
|---|---:|---:|
| {SMALL_EVENTS:,} events | {small_objects:,} | {mib(small["peak_rss"])} |
| {BIG_EVENTS:,} events | {big_objects:,} | {mib(max(r["peak_rss"] for r in runs["loader"]))} |

Memory is bounded by design, not by input size: at most 32 MiB of objects fetched ahead,
COPY data in 1 MiB chunks, rejects spooled to a temporary file past 4 MiB.
"""
    write_section("loader", "Loader: S3 raw objects into staging.raw_events", body)
    print(
        f"loader/bare = {ratio:.2f}; peak RSS {mib(small['peak_rss'])} -> {mib(loader['peak_rss'])}"
    )


if __name__ == "__main__":
    main()
