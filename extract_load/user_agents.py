"""User agents parsed into device class, browser, OS and bot flag: staging.user_agents.

SQL cannot parse user agents well (hundreds of vendor regexes), so the loader does it in
Python, with two well-kept libraries: `ua-parser` (the uap-core regexes, as Snowplow's and
Matomo's enrichments use them) for browser, OS and device, and `crawlerdetect` (the
CrawlerDetect list of ~1,400 crawler and HTTP-library patterns) for bots.

The loader reads each line's agent while it streams the line to COPY (`user_agent_of_line`:
a search from the line's end, where the ingest Lambda writes its `ingest` block, compact
JSON; no JSON parse of the line, so the loader keeps its speed), and calls
`parse_user_agents` in the batch's transaction: the batch's agents not in
staging.user_agents yet are parsed and inserted, so dbt never sees a line whose agent is not
parsed. A warehouse loaded before this table existed is backfilled once, by ensure_schema,
with `parse_missing_user_agents` (SQL over the stored lines).

An agent longer than MAX_USER_AGENT_LENGTH is not stored (a B-tree key has a size limit, and
no browser sends one that long): clickstream_events gives its events device class 'other',
not a bot.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from json import JSONDecoder
from typing import Final

from crawlerdetect import CrawlerDetect
from psycopg2.extensions import cursor
from psycopg2.extras import execute_values
from ua_parser import parse

MAX_USER_AGENT_LENGTH: Final = 1000
DEVICE_CLASSES: Final = ("desktop", "mobile", "tablet", "bot", "other")
PARSER_VERSION: Final = (
    f"ua-parser {version('ua-parser')}, crawlerdetect {version('crawlerdetect')}"
)

_DESKTOP_SYSTEMS: Final = frozenset(
    {"Windows", "Mac OS X", "Linux", "Ubuntu", "Fedora", "Debian", "Chrome OS", "FreeBSD"}
)
_MOBILE_SYSTEMS: Final = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS"})
_TABLET_HINT: Final = re.compile(r"iPad|Tablet|Kindle|Silk|PlayBook|Nexus (?:7|9|10)\b", re.I)
# A bot crawlerdetect matched by a generic word: take the agent's product token instead.
_BOT_TOKEN: Final = re.compile(r"([A-Za-z][\w.-]*(?:bot|crawler|spider|slurp)[\w.-]*)", re.I)


@dataclass(frozen=True)
class ParsedUserAgent:
    """One row of staging.user_agents (without parsed_at, which the database sets)."""

    user_agent: str
    device_class: str
    browser_family: str | None
    browser_version: str | None
    os_family: str | None
    os_version: str | None
    is_bot: bool
    bot_name: str | None


def _version(major: str | None, minor: str | None) -> str | None:
    if not major:
        return None
    return f"{major}.{minor}" if minor else major


def _known(family: str | None) -> str | None:
    """ua-parser's family, or None for its 'Other' (it could not tell)."""
    return None if family in (None, "Other") else family


@lru_cache(maxsize=1)
def _crawler_detect() -> CrawlerDetect:
    return CrawlerDetect()


def _bot_name(user_agent: str, crawler_match: str | None) -> str:
    """A short stable name for a bot: its product token (Googlebot, bingbot, AhrefsBot...)
    when the agent has one, else what crawlerdetect matched."""
    token = _BOT_TOKEN.search(user_agent)
    if token:
        return token.group(1).split("/")[0]
    return (crawler_match or "unknown bot").strip()[:128]


def _device_class(user_agent: str, os_family: str | None, device_family: str | None) -> str:
    if _TABLET_HINT.search(user_agent) or (os_family == "Android" and "Mobile" not in user_agent):
        return "tablet"
    if os_family in _MOBILE_SYSTEMS or "Mobile" in user_agent:
        return "mobile"
    if os_family in _DESKTOP_SYSTEMS:
        return "desktop"
    return "other"


def parse_user_agent(user_agent: str) -> ParsedUserAgent:
    """Device class, browser, OS and bot flag of one user agent."""
    result = parse(user_agent)
    browser = result.user_agent
    system = result.os
    device = result.device
    os_family = _known(system.family) if system else None
    device_family = device.family if device else None
    detector = _crawler_detect()
    is_bot = detector.isCrawler(user_agent) or device_family == "Spider"
    if is_bot:
        matches = detector.getMatches()
        match = matches if isinstance(matches, str) else None
        bot_name: str | None = _bot_name(user_agent, match)
        device_class = "bot"
    else:
        bot_name = None
        device_class = _device_class(user_agent, os_family, device_family)
    return ParsedUserAgent(
        user_agent=user_agent,
        device_class=device_class,
        browser_family=_known(browser.family) if browser else None,
        browser_version=_version(browser.major, browser.minor) if browser else None,
        os_family=os_family,
        os_version=_version(system.major, system.minor) if system else None,
        is_bot=is_bot,
        bot_name=bot_name,
    )


_INSERT_SQL: Final = """
insert into staging.user_agents (user_agent, device_class, browser_family, browser_version,
    os_family, os_version, is_bot, bot_name, parser_version)
values %s
on conflict (user_agent) do nothing
"""

# The distinct agents of some raw lines that are not parsed yet. `lines` is a condition on
# staging.raw_events (as raw); the agent is the ingest block's, as the ingest Lambda wrote it.
_UNPARSED_SQL: Final = """
select distinct raw.payload #>> '{{ingest,user_agent}}' as user_agent
from staging.raw_events as raw
where {lines}
    and raw.payload #>> '{{ingest,user_agent}}' is not null
    and length(raw.payload #>> '{{ingest,user_agent}}') <= {max_length}
    and not exists (
        select from staging.user_agents as parsed
        where parsed.user_agent = raw.payload #>> '{{ingest,user_agent}}'
    )
"""


# user_agent, device_class, browser_family, browser_version, os_family, os_version, is_bot,
# bot_name, parser_version
UserAgentRow = tuple[
    str, str, str | None, str | None, str | None, str | None, bool, str | None, str
]


def user_agent_rows(agents: Iterable[str]) -> list[UserAgentRow]:
    """staging.user_agents rows (without parsed_at) of the agents, for either warehouse."""
    return [
        (
            parsed.user_agent,
            parsed.device_class,
            parsed.browser_family,
            parsed.browser_version,
            parsed.os_family,
            parsed.os_version,
            parsed.is_bot,
            parsed.bot_name,
            PARSER_VERSION,
        )
        for parsed in map(parse_user_agent, agents)
    ]


def storable_user_agents(agents: Iterable[str]) -> list[str]:
    """The agents a row is kept for, sorted: longer than MAX_USER_AGENT_LENGTH are left out."""
    return sorted(agent for agent in agents if len(agent) <= MAX_USER_AGENT_LENGTH)


def _insert(cur: cursor, agents: Iterable[str]) -> int:
    rows = user_agent_rows(agents)
    if rows:
        execute_values(cur, _INSERT_SQL, rows)
    return len(rows)


def _parse_unparsed(cur: cursor, lines_condition: str) -> int:
    cur.execute(_UNPARSED_SQL.format(lines=lines_condition, max_length=MAX_USER_AGENT_LENGTH))
    return _insert(cur, sorted(row[0] for row in cur.fetchall()))


_AGENT_KEY: Final = b'"user_agent":"'
_DECODER: Final = JSONDecoder()


def user_agent_of_line(data: bytes) -> str | None:
    """The `ingest.user_agent` of a raw line as the ingest Lambda writes it (compact JSON, the
    `ingest` block last, so the last `"user_agent":"` of the line is its), or None when the
    line has none (or it is not a string). Decoded with json's own decoder."""
    at = data.rfind(_AGENT_KEY)
    if at < 0:
        return None
    try:
        tail = data[at + len(_AGENT_KEY) - 1 :].decode("utf-8")
        agent, _ = _DECODER.raw_decode(tail)  # the string value, up to its closing quote
    except (UnicodeDecodeError, ValueError):
        return None
    return agent if isinstance(agent, str) else None


class UserAgentCollector:
    """Gathers the agents of an object's lines into `agents`. The lines of an object share a
    few ingest blocks: each block's text (the line's tail from its last `"user_agent":`) is
    decoded once."""

    def __init__(self, agents: set[str]) -> None:
        self.agents = agents
        self._seen_tails: set[bytes] = set()

    def add_line(self, data: bytes) -> None:
        tail = data[data.rfind(b'"user_agent":') :]
        if tail in self._seen_tails:
            return
        self._seen_tails.add(tail)
        agent = user_agent_of_line(data)
        if agent is not None:
            self.agents.add(agent)


def parse_user_agents(cur: cursor, agents: Collection[str]) -> int:
    """Parse and insert the `agents` (a batch's) that staging.user_agents does not hold yet;
    how many were added. An agent longer than MAX_USER_AGENT_LENGTH is left out."""
    wanted = storable_user_agents(agents)
    if not wanted:
        return 0
    cur.execute("select user_agent from staging.user_agents where user_agent = any(%s)", (wanted,))
    known = {row[0] for row in cur.fetchall()}
    return _insert(cur, [agent for agent in wanted if agent not in known])


def parse_missing_user_agents(cur: cursor) -> int:
    """Parse every agent of staging.raw_events not in staging.user_agents yet (the backfill
    of a warehouse loaded before the table existed); how many were added."""
    return _parse_unparsed(cur, "true")
