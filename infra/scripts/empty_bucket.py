"""Delete every object version and delete marker of a bucket (versioning is on, so a plain
`aws s3 rm --recursive` would leave the versions behind and the bucket undeletable).

    python infra/scripts/empty_bucket.py BUCKET
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import boto3

DELETE_BATCH = 1000  # the most DeleteObjects accepts at once


def object_versions(client: Any, bucket: str) -> Iterator[dict[str, str]]:
    """Every version and every delete marker, as DeleteObjects identifiers."""
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            yield {"Key": entry["Key"], "VersionId": entry["VersionId"]}


def empty_bucket(bucket: str, client: Any | None = None) -> int:
    """Delete everything in `bucket`; returns how many versions and markers were deleted."""
    client = client or boto3.client("s3")
    deleted = 0
    while True:
        batch: list[Any] = []
        for identifier in object_versions(client, bucket):
            batch.append(identifier)
            if len(batch) == DELETE_BATCH:
                break
        if not batch:
            return deleted
        response = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise RuntimeError(
                f"could not delete {len(errors)} versions from {bucket}, e.g. "
                f"{first.get('Key')}: {first.get('Message')}"
            )
        deleted += len(batch)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: empty_bucket.py BUCKET", file=sys.stderr)
        return 2
    deleted = empty_bucket(args[0])
    print(f"deleted {deleted} object versions and delete markers from {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
