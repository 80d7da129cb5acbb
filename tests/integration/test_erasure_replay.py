"""Erasure (issue 14.2) and replay (14.3) on the real PostgreSQL and S3 API: both remove raw
lines, and after the next incremental `dbt build` every mart must equal a clean build of
what is left, loaded into a fresh database (watermark columns aside: they are load times)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from clickstream.config import Settings
from clickstream.privacy import erase
from clickstream.raw_layout import encode_ndjson, format_timestamp, ingest_block, raw_object_key
from clickstream.storage import s3_client
from devtools.traffic import generate_requests, write_requests_to_s3
from extract_load.loader import load_new_objects
from tests.integration.dbt_support import MARTS, dbt, execute, query
from tests.support import temporary_database

pytestmark = pytest.mark.slow

START = date(2026, 3, 2)
LOAD_SINCE = datetime(2026, 1, 1, tzinfo=UTC)
USER_ID = "u-erase-me-7f3a"
CLIENT_ID = "c-erase-me-laptop"
SECOND_CLIENT_ID = "c-erase-me-phone"
OTHER_USER_ID = "u-shares-the-laptop"
PRODUCT_ONLY_THEIRS = "P-only-the-person"
WATERMARKS = ("loaded_at", "last_loaded_at")


@pytest.fixture
def versioned_bucket(raw_bucket: str) -> Iterator[str]:
    client = s3_client()
    client.put_bucket_versioning(Bucket=raw_bucket, VersioningConfiguration={"Status": "Enabled"})
    yield raw_bucket
    for page in client.get_paginator("list_object_versions").paginate(Bucket=raw_bucket):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            client.delete_object(Bucket=raw_bucket, Key=item["Key"], VersionId=item["VersionId"])


def _event(
    name: str, at: datetime, session_id: str, client_id: str, **fields: Any
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_timestamp": format_timestamp(at),
        "event_name": name,
        "session_id": session_id,
        "client_id": client_id,
        "page": {"path": "/p", "referrer": ""},
        **fields,
    }


def _put(
    bucket: str, received_at: datetime, lines: list[dict[str, Any]], extra: bytes = b""
) -> str:
    block = ingest_block(received_at, str(uuid.uuid4()), "192.0.2.1", "pytest")
    key = raw_object_key(Settings.from_env().raw_prefix, received_at)
    body = encode_ndjson([{**line, "ingest": block} for line in lines]) + extra
    s3_client().put_object(Bucket=bucket, Key=key, Body=body)
    return key


def _product(product_id: str, price: float) -> dict[str, Any]:
    return {"product": {"id": product_id, "name": product_id, "price": price}}


def _person_objects(bucket: str, day: date, shared_product: str) -> list[str]:
    """The person's traffic: guest page views then a login (one session crossing midnight),
    a purchase of a product others buy and of one only they touch, a retry, a second
    browser, an invalid line, a line the loader rejects; and someone else logged in on the
    person's laptop, whose events must stay."""
    at = datetime(day.year, day.month, day.day, 23, 50, tzinfo=UTC)
    session = "s-erase-me-1"
    guest = [_event("page_view", at, session, CLIENT_ID)]
    logged = {"user_id": USER_ID}
    bought = [
        _event(
            "product_view",
            at + timedelta(minutes=5),
            session,
            CLIENT_ID,
            **logged,
            context=_product(shared_product, 99.0),
        ),
        _event(
            "add_to_cart",
            at + timedelta(minutes=15),
            session,
            CLIENT_ID,
            **logged,
            context=_product(PRODUCT_ONLY_THEIRS, 10.0),
        ),
        _event(
            "purchase",
            at + timedelta(minutes=20),
            session,
            CLIENT_ID,
            **logged,
            context={**_product(shared_product, 99.0), "order": {"order_id": "o-1"}},
        ),
    ]
    invalid = _event(
        "product_view",
        at,
        session,
        CLIENT_ID,
        **logged,
        context={"product": {"id": "P-x", "price": "not a number"}},
    )
    rejected = f'{{"event_id": "broken", "user_id": "{USER_ID}"'.encode() + b"\n"
    keys = [
        _put(bucket, at + timedelta(minutes=1), guest),
        _put(bucket, at + timedelta(minutes=21), [*bought, invalid], extra=rejected),
    ]
    keys.append(_put(bucket, at + timedelta(minutes=40), bought[:1]))  # a retry
    phone = [
        _event("page_view", at + timedelta(hours=2), "s-erase-me-2", SECOND_CLIENT_ID, **logged)
    ]
    keys.append(_put(bucket, at + timedelta(hours=2, minutes=1), phone))
    other = [
        _event("page_view", at + timedelta(hours=3), "s-other", CLIENT_ID, user_id=OTHER_USER_ID)
    ]
    _put(bucket, at + timedelta(hours=3, minutes=1), other)
    # a second version of the first object: the old one holds the lines too
    client = s3_client()
    body = client.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    client.put_object(Bucket=bucket, Key=keys[0], Body=body)
    return keys


def _age_history() -> None:
    """Give every object the load time the hourly runs would have given it (65 minutes
    after its hour, as the benchmark does) and rebuild the marts from those times, so that
    the next incremental run reads only what is loaded or re-touched after it: loaded in
    one go moments ago, the whole history would share one load time, inside every run's
    lookback, and every run would recompute everything."""
    hour_loaded = (
        "to_timestamp(substring(s3_key from '(\\d{4}/\\d{2}/\\d{2}/\\d{2})/events-'),"
        " 'YYYY/MM/DD/HH24') + interval '65 minutes'"
    )
    execute(f"update staging.raw_events set loaded_at = {hour_loaded}")
    execute(f"update staging.load_manifest set loaded_at = {hour_loaded}")
    dbt("build", "--full-refresh")


def _mart_rows(mart: str) -> Counter[str]:
    rows = query(f"select to_jsonb(m) from public.{mart} as m")
    return Counter(
        json.dumps({k: v for k, v in row[0].items() if k not in WATERMARKS}, sort_keys=True)
        for row in rows
    )


def _all_marts() -> dict[str, Counter[str]]:
    return {mart: _mart_rows(mart) for mart in MARTS}


def _clean_build_marts() -> dict[str, Counter[str]]:
    """Every mart of a fresh database loaded from the bucket as it is now."""
    with temporary_database("clean"):
        load_new_objects(LOAD_SINCE)
        dbt("build")
        return _all_marts()


def _assert_same_marts(actual: dict[str, Counter[str]], clean: dict[str, Counter[str]]) -> None:
    for mart in MARTS:
        missing = clean[mart] - actual[mart]
        extra = actual[mart] - clean[mart]
        assert not missing, (mart, "missing", list(missing)[:3])
        assert not extra, (mart, "extra", list(extra)[:3])


def _bucket_texts(bucket: str) -> list[str]:
    client = s3_client()
    texts = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []):
            body = client.get_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
            texts.append(body["Body"].read().decode("utf-8", errors="replace"))
    return texts


def _tables_mentioning(text: str) -> list[str]:
    tables = query(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema in ('staging', 'public', 'dbt_intermediate', 'dbt_staging')"
        " and table_type = 'BASE TABLE'"
    )
    return [
        f"{schema}.{name}"
        for schema, name in tables
        if query(
            f'select count(*) from "{schema}"."{name}" as t where t::text like %s', f"%{text}%"
        )[0][0]
    ]


def test_erasure_removes_the_person_everywhere_and_leaves_a_clean_build(
    warehouse_db: str, versioned_bucket: str
) -> None:
    prefix = Settings.from_env().raw_prefix
    write_requests_to_s3(
        generate_requests(1200, 2, START, seed=5), versioned_bucket, prefix, s3_client()
    )
    phone_key = _person_objects(versioned_bucket, START, "P0001")[3]
    load_new_objects(LOAD_SINCE)
    dbt("build")
    _age_history()
    # as if raw retention had dropped the phone object's load day: its event is only in the marts
    execute("delete from staging.raw_events where s3_key = %s", phone_key)
    execute("update staging.load_manifest set lines_loaded = 0 where s3_key = %s", phone_key)
    assert _tables_mentioning(USER_ID)  # the person is there to begin with
    assert (
        query(
            "select count(*) from public.dim_products where product_id = %s", PRODUCT_ONLY_THEIRS
        )[0][0]
        == 1
    )

    summary = erase(user_id=USER_ID)
    dbt("build")

    assert summary.client_ids_included == 2
    # 4 logged in + 1 guest + 1 retry + 1 invalid (the phone's line was dropped before)
    assert summary.removed["raw_events"] == 6
    assert summary.removed["rejected_events"] == 1
    assert summary.removed["s3_versions_deleted"] >= 4
    texts = _bucket_texts(versioned_bucket)
    for person_id in (USER_ID, SECOND_CLIENT_ID, PRODUCT_ONLY_THEIRS):
        assert not any(person_id in text for text in texts), person_id
    # the laptop's client id stays only on the line of the other person who logged in on it
    laptop_lines = [line for text in texts for line in text.splitlines() if CLIENT_ID in line]
    assert len(laptop_lines) == 1
    assert OTHER_USER_ID in laptop_lines[0]
    for person_id in (USER_ID, SECOND_CLIENT_ID, PRODUCT_ONLY_THEIRS):
        assert _tables_mentioning(person_id) == [], person_id
    assert (
        query(
            "select count(*) from staging.raw_events where payload->>'client_id' = %s", CLIENT_ID
        )[0][0]
        == 1
    )  # the other person on the laptop stays
    audit = query("select identified_by, removed::text from staging.erasure_requests")
    assert len(audit) == 1
    assert audit[0][0] == "user_id"
    # the rewritten objects are known to the loader: nothing is loaded again
    assert load_new_objects(LOAD_SINCE).objects == 0
    assert (
        query(
            "select count(*) from staging.load_manifest as m"
            " where lines_loaded + lines_rejected <> (select count(*) from staging.raw_events as r"
            " where r.s3_key = m.s3_key) + (select count(*) from staging.rejected_events as j"
            " where j.s3_key = m.s3_key)"
        )[0][0]
        == 0
    )

    after = _all_marts()
    dbt("build", "--full-refresh")
    _assert_same_marts(_all_marts(), after)
    _assert_same_marts(after, _clean_build_marts())

    again = erase(user_id=USER_ID)  # re-running is safe and finds nothing
    assert not any(count for name, count in again.removed.items() if name != "raw_lines_retouched")
    dbt("build")
    _assert_same_marts(_all_marts(), after)
    assert len(query("select 1 from staging.erasure_requests")) == 2


def _rewrite(bucket: str, key: str, change: Any) -> None:
    client = s3_client()
    lines = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    events = [json.loads(line) for line in lines]
    client.put_object(Bucket=bucket, Key=key, Body=encode_ndjson(change(events)))


def _keys(bucket: str, prefix: str) -> list[str]:
    pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def test_replay_after_a_fix_equals_a_clean_build(warehouse_db: str, raw_bucket: str) -> None:
    prefix = Settings.from_env().raw_prefix
    write_requests_to_s3(
        generate_requests(1500, 2, START, seed=8, retry_rate=0.05),
        raw_bucket,
        prefix,
        s3_client(),
    )
    # A session with an event in the replayed hour (in an object that the fix empties) and
    # two in a later hour, which the replay does not reload: only the re-touch of the
    # session's, the product's and the pair's remaining events gets them recomputed.
    replayed_hour = datetime.combine(START + timedelta(days=1), time(5), UTC)
    at = replayed_hour + timedelta(minutes=10)
    emptied = _put(
        raw_bucket,
        at,
        [_event("add_to_cart", at, "s-replay", "c-replay", context=_product("P-replay", 5.0))],
    )
    later = at + timedelta(hours=2)
    _put(
        raw_bucket,
        later,
        [
            _event("page_view", later, "s-replay", "c-replay"),
            _event(
                "product_view", later, "s-replay", "c-replay", context=_product("P-replay", 5.0)
            ),
        ],
    )
    load_new_objects(LOAD_SINCE)
    dbt("build")
    _age_history()
    keys = _keys(raw_bucket, f"{prefix}{replayed_hour:%Y/%m/%d/%H}/")
    multi_line = [
        key
        for key in keys
        if key != emptied
        and len(s3_client().get_object(Bucket=raw_bucket, Key=key)["Body"].read().splitlines()) > 1
    ]
    fixes = [
        lambda events: events[1:],  # a line removed
        lambda events: [{**events[0], "event_name": "checkout"}, *events[1:]],  # renamed
        lambda events: [  # a new id, another session
            {**events[0], "event_id": str(uuid.uuid4()), "session_id": "s-fixed"},
            *events[1:],
        ],
    ]
    assert multi_line
    for key, fix in zip(multi_line, fixes, strict=False):
        _rewrite(raw_bucket, key, fix)
    _rewrite(raw_bucket, emptied, lambda events: [])

    summary = load_new_objects(replayed_hour, replayed_hour, replay=True)
    dbt("build")

    assert summary.objects_replaced == len(keys)
    assert load_new_objects(LOAD_SINCE).objects == 0
    _assert_same_marts(_all_marts(), _clean_build_marts())
    assert query("select sum(lines_loaded), sum(lines_rejected) from staging.load_runs") == query(
        "select sum(lines_loaded), sum(lines_rejected) from staging.load_manifest"
    )


def test_erasing_a_users_first_browser_moves_their_first_visit_to_the_next(
    warehouse_db: str, versioned_bucket: str
) -> None:
    """The user keeps a browser first seen a week later: their first visit, new-user day and
    cohort move there, days and weeks none of the erased browser's events touched."""
    prefix = Settings.from_env().raw_prefix
    write_requests_to_s3(
        generate_requests(300, 2, START, seed=6), versioned_bucket, prefix, s3_client()
    )
    laptop_at = datetime(START.year, START.month, START.day, 10, 0, tzinfo=UTC)
    phone_at = laptop_at + timedelta(days=8)  # the next week's Tuesday
    logged = {"user_id": USER_ID}
    _put(versioned_bucket, laptop_at + timedelta(minutes=1),
         [_event("page_view", laptop_at, "s-laptop", CLIENT_ID, **logged)])  # fmt: skip
    # the phone's later event has the smaller event_id: the one erasure re-touches, when
    # it takes one event per browser, is not the browser's first
    phone_events = [
        _event("page_view", phone_at, "s-phone", SECOND_CLIENT_ID, **logged,
               event_id="ffffffff-ffff-4fff-bfff-ffffffffffff"),
        _event("page_view", phone_at + timedelta(days=1), "s-phone-2", SECOND_CLIENT_ID,
               **logged, event_id="00000000-0000-4000-8000-000000000001"),
    ]  # fmt: skip
    _put(versioned_bucket, phone_at + timedelta(days=1, minutes=1), phone_events)
    load_new_objects(LOAD_SINCE)
    _age_history()

    erase(client_id=CLIENT_ID)
    dbt("build")

    assert query(
        "select (first_seen_at at time zone 'UTC')::date from public.dim_users where user_key = %s",
        USER_ID,
    ) == [(phone_at.date(),)]
    _assert_same_marts(_all_marts(), _clean_build_marts())
