"""`python -m extract_load load|status|prune`: the loader from a shell, with one-line errors."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime

from clickstream.errors import ClickstreamError
from extract_load.loader import load_new_objects, load_status
from extract_load.retention import prune_raw_events


def parse_hour(text: str) -> datetime:
    """`YYYY-MM-DD` or `YYYY-MM-DDTHH` (UTC) as an aware datetime."""
    for pattern in ("%Y-%m-%dT%H", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or YYYY-MM-DDTHH (UTC), got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m extract_load",
        description="Load raw S3 objects into staging.raw_events (see docs/extract_load.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="load the objects not loaded yet")
    load.add_argument(
        "--since", type=parse_hour, help="first hour partition to list (default: see docs)"
    )
    load.add_argument("--until", type=parse_hour, help="last hour partition (default: now + 1 h)")
    load.add_argument(
        "--replay",
        action="store_true",
        help="load the objects of --since..--until again, replacing their old lines"
        " (after fixing them in S3; then run dbt build)",
    )
    load.add_argument(
        "--engine",
        choices=["postgres", "spark"],
        default="postgres",
        help="the warehouse to load: PostgreSQL (default) or Spark's tables under"
        " SPARK_HOME_DIR (docs/scale.md)",
    )
    load.add_argument("--json", action="store_true", help="print the summary as JSON")
    status = commands.add_parser("status", help="what has been loaded and rejected")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    prune = commands.add_parser(
        "prune",
        help="drop the raw day partitions past the retention that every mart has built and tested",
    )
    prune.add_argument(
        "--days",
        type=retention_days,
        help="days of raw lines to keep (default: RAW_RETENTION_DAYS; unset keeps all)",
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="say what would be dropped, drop nothing"
    )
    prune.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def retention_days(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of days >= 1, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "load":
            if args.since and args.until and args.since > args.until:
                print("error: --since is after --until", file=sys.stderr)
                return 2
            if args.replay and not (args.since and args.until):
                print("error: --replay needs --since and --until", file=sys.stderr)
                return 2
            if args.engine == "spark":
                if args.replay:
                    print("error: --replay is not available with --engine spark", file=sys.stderr)
                    return 2
                # here: only Spark loads need pyspark and its JVM
                from extract_load.spark_load import load_into_spark

                summary = load_into_spark(args.since, args.until)
            else:
                summary = load_new_objects(
                    args.since, args.until, progress=sys.stderr.isatty(), replay=args.replay
                )
            print(json.dumps(summary.as_dict()) if args.json else summary.one_line())
        elif args.command == "prune":
            pruned = prune_raw_events(args.days, dry_run=args.dry_run)
            print(json.dumps(pruned.as_dict()) if args.json else pruned.one_line())
        else:
            status = load_status()
            print(json.dumps(status.as_dict()) if args.json else "\n".join(status.lines()))
    except ClickstreamError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted: the batch in flight was rolled back; run again to go on", file=sys.stderr
        )
        return 130
    return 0
