"""Reading a raw line's user agent without parsing the line, and the device classes the
parsing libraries give (extract_load/user_agents.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clickstream.raw_layout import encode_ndjson, ingest_block
from extract_load.user_agents import parse_user_agent, user_agent_of_line


def line_with(agent: str | None, event: dict[str, object] | None = None) -> bytes:
    block = ingest_block(datetime(2026, 3, 2, 10, tzinfo=UTC), "r-1", "192.0.2.1", agent)
    return encode_ndjson([{**(event or {"event_id": "e"}), "ingest": block}]).rstrip(b"\n")


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
        'odd "quoted" agent \\ with a backslash',
        "non-ASCII é agent",
    ],
)
def test_the_agent_the_ingest_lambda_wrote_is_read_back(agent: str) -> None:
    assert user_agent_of_line(line_with(agent)) == agent


def test_the_ingest_block_s_agent_wins_over_a_field_of_the_event() -> None:
    event = {"event_id": "e", "context": {"user_agent": "spoofed"}}
    assert user_agent_of_line(line_with("real", event)) == "real"


def test_no_agent_or_a_broken_line_gives_none() -> None:
    assert user_agent_of_line(line_with(None)) is None
    assert user_agent_of_line(b'{"event_id":"e"}') is None
    assert user_agent_of_line(b'{"ingest":{"user_agent":"cut off') is None


@pytest.mark.parametrize(
    ("agent", "device_class", "is_bot"),
    [
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
            " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "mobile",
            False,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
            " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "tablet",
            False,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
            " (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
            "desktop",
            False,
        ),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", True),
        ("python-requests/2.31", "bot", True),
        ("pytest", "other", False),
    ],
)
def test_device_classes(agent: str, device_class: str, is_bot: bool) -> None:
    parsed = parse_user_agent(agent)
    assert (parsed.device_class, parsed.is_bot) == (device_class, is_bot)
    assert (parsed.bot_name is not None) == is_bot
