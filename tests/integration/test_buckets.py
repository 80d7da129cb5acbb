"""devtools.buckets on the local S3 endpoint: listing and emptying a prefix."""

from __future__ import annotations

from clickstream.storage import s3_client
from devtools.buckets import create_bucket_if_missing, delete_objects, object_keys


def test_lists_and_deletes_only_under_the_prefix(raw_bucket: str) -> None:
    client = s3_client()
    keys = ["events/2026/a.json", "events/2026/b.json", "markers/done"]
    for key in keys:
        client.put_object(Bucket=raw_bucket, Key=key, Body=b"{}\n")

    assert list(object_keys(client, raw_bucket)) == keys
    assert list(object_keys(client, raw_bucket, "events/")) == keys[:2]

    delete_objects(client, raw_bucket, "events/")
    assert list(object_keys(client, raw_bucket)) == ["markers/done"]
    delete_objects(client, raw_bucket, "events/")  # nothing left there: nothing to do
    delete_objects(client, raw_bucket)
    assert list(object_keys(client, raw_bucket)) == []


def test_creating_a_bucket_that_exists_keeps_its_objects(raw_bucket: str) -> None:
    client = s3_client()
    client.put_object(Bucket=raw_bucket, Key="events/a.json", Body=b"{}\n")
    create_bucket_if_missing(client, raw_bucket)
    assert list(object_keys(client, raw_bucket)) == ["events/a.json"]
