"""The raw layout in S3 (design.md): one NDJSON object per ingest request, under
`<prefix>YYYY/MM/DD/HH/events-<uuid>.json`, the hour being `received_at`'s in UTC.

The ingest Lambda and the traffic generator both write through these functions, so that
generated traffic is byte-for-byte shaped like real traffic."""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

OBJECT_NAME_PREFIX = "events-"
OBJECT_SUFFIXES = (".json", ".json.gz")


def is_raw_object(key: str) -> bool:
    """Whether a key names a raw object of this layout (not a stray file under the prefix)."""
    name = key.rsplit("/", 1)[-1]
    return name.startswith(OBJECT_NAME_PREFIX) and name.endswith(OBJECT_SUFFIXES)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a `Z`, as the ingest block records times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hour_prefix(prefix: str, hour: datetime) -> str:
    return f"{prefix}{hour.astimezone(UTC):%Y/%m/%d/%H}/"


def raw_object_key(prefix: str, received_at: datetime, object_id: str | None = None) -> str:
    return f"{hour_prefix(prefix, received_at)}{OBJECT_NAME_PREFIX}{object_id or uuid.uuid4()}.json"


def hour_prefixes(prefix: str, since: datetime, until: datetime) -> Iterator[str]:
    """Every hour partition from `since` up to and including `until`'s hour."""
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = until.astimezone(UTC)
    while hour <= last:
        yield hour_prefix(prefix, hour)
        hour += timedelta(hours=1)


def anonymise_ip(source_ip: str | None) -> str | None:
    """Keep the network, drop the host: IPv4 to its /24, IPv6 to its /48."""
    if not source_ip:
        return None
    try:
        address = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return None
    prefix_length = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix_length}", strict=False).network_address)


def ingest_block(
    received_at: datetime, request_id: str, source_ip: str | None, user_agent: str | None
) -> dict[str, Any]:
    return {
        "received_at": format_timestamp(received_at),
        "request_id": request_id,
        "source_ip": anonymise_ip(source_ip),
        "user_agent": user_agent,
    }


def encode_ndjson(events: Iterable[Mapping[str, Any]]) -> bytes:
    """One compact JSON object a line, UTF-8, newline-terminated. NaN/Infinity are refused."""
    lines = (
        json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        for event in events
    )
    return "".join(f"{line}\n" for line in lines).encode("utf-8")
