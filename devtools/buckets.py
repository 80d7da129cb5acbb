"""Listing and emptying the objects under an S3 prefix: what the tests and the benchmarks do
with the throwaway buckets they own (never a bucket of real data: this deletes for good)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef


def object_keys(client: S3Client, bucket: str, prefix: str = "") -> Iterator[str]:
    """Every key under `prefix`, in S3's (lexicographic) order, page by page."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]


def delete_objects(client: S3Client, bucket: str, prefix: str = "") -> None:
    """Delete every object under `prefix`, a listing page (at most 1,000 keys, what one
    DeleteObjects call takes) at a time."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys: list[ObjectIdentifierTypeDef] = [
            {"Key": item["Key"]} for item in page.get("Contents", [])
        ]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def create_bucket_if_missing(client: S3Client, bucket: str) -> None:
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket)
