"""The acquisition marts (issue 11) computed independently, in plain Python, from the events
tests/integration/dbt_support.py derives from the raw lines: fct_sessions' new columns,
fct_page_views, fct_traffic_daily and fct_bot_traffic_daily.

The channel rules are written out again here from their documentation (macros/channels.sql),
reading the same seed file; the user agents go through the loader's parser
(extract_load/user_agents.py), whose verdicts are the libraries' (what is tested here is that
the warehouse applies them)."""

from __future__ import annotations

import csv
import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from extract_load.user_agents import MAX_USER_AGENT_LENGTH, ParsedUserAgent, parse_user_agent
from tests.integration.dbt_support import (
    CENT,
    DBT_PROJECT,
    REPORTING_CURRENCY,
    Event,
    counted_in_marts,
    counted_pings,
    is_bot,
)

SITE_HOSTS = {"shop.example.com", "localhost", "127.0.0.1"}  # dbt_project.yml's site_hosts
NOT_SET = "(not set)"
_PREFIX = re.compile(r"^(www|m|l|lm)\.")
PAID_MEDIUMS = {"cpc", "ppc", "retargeting"}
DISPLAY_MEDIUMS = {"display", "banner", "cpm", "interstitial", "expandable"}
SOCIAL_MEDIUMS = {
    "social", "social-network", "social-media", "social network", "social media", "sm",
    "paid social", "paid-social",
}  # fmt: skip
EMAIL_MEDIUMS = {"email", "e-mail", "e_mail", "newsletter"}


@functools.cache
def channel_sources() -> dict[str, str]:
    with (DBT_PROJECT / "seeds" / "channel_sources.csv").open(newline="") as seed:
        return {row["source"]: row["category"] for row in csv.DictReader(seed)}


def category(source: str | None) -> str | None:
    if source is None:
        return None
    sources = channel_sources()
    return sources.get(source) or sources.get(source.split(".")[0])


def referrer_host(referrer: str | None) -> str | None:
    if not referrer or "://" not in referrer:
        return None
    host = urlsplit(referrer).hostname
    if not host:
        return None
    host = _PREFIX.sub("", host.lower(), count=1)
    return None if host in SITE_HOSTS or not host else host


def channel(event: Event) -> str:
    """The channel grouping's rules, in their documented order."""
    utm = event.utm or {}
    clicks = event.click_ids or {}
    source, medium_value = utm.get("source"), utm.get("medium")
    medium = (medium_value or "").lower()
    host = referrer_host(event.referrer)
    source_category = category(_PREFIX.sub("", source.strip().lower(), count=1)) if source else None
    kind = source_category or category(host)
    paid = medium in PAID_MEDIUMS or medium.startswith("paid")
    if (source or "").lower() == "(direct)":
        return "Direct"
    if source is None and medium_value is None and not any(clicks.values()) and host is None:
        return "Direct"
    if clicks.get("gclid") or clicks.get("msclkid"):
        return "Paid Search"
    if paid and (kind or "search") in ("search", "shopping"):
        return "Paid Search"
    if medium in DISPLAY_MEDIUMS or (paid and kind != "social"):
        return "Display"
    if medium in SOCIAL_MEDIUMS or kind == "social" or clicks.get("fbclid"):
        return "Social"
    if medium in ("affiliate", "affiliates"):
        return "Affiliates"
    if medium in EMAIL_MEDIUMS or kind == "email":
        return "Email"
    if medium == "organic" or kind == "search":
        return "Organic Search"
    if medium == "referral" or kind == "shopping" or (source is None and medium_value is None):
        return "Referral"
    return "Other"


def parsed(user_agent: str | None) -> ParsedUserAgent | None:
    if user_agent is None or len(user_agent) > MAX_USER_AGENT_LENGTH:
        return None
    return _parse(user_agent)


@functools.cache
def _parse(user_agent: str) -> ParsedUserAgent:
    return parse_user_agent(user_agent)


def _in_reporting_currency(event: Event) -> bool:
    return event.order_currency in (None, REPORTING_CURRENCY)


def _engaged(pings: Iterable[Event]) -> Decimal:
    return sum(
        (
            Decimal(str(ping.ping["engaged_seconds"])).quantize(Decimal("0.001"))
            for ping in pings
            if ping.ping and ping.ping.get("engaged_seconds") is not None
        ),
        Decimal(0),
    )


def expected_session_acquisition(events: list[Event]) -> dict[str, dict[str, Any]]:
    """fct_sessions' issue-11 columns, per session."""
    by_session: dict[str, list[Event]] = defaultdict(list)
    for event in counted_in_marts(events):
        by_session[event.session_id].append(event)
    pings_by_session: dict[str, list[Event]] = defaultdict(list)
    for ping in counted_pings(events):
        pings_by_session[ping.session_id].append(ping)
    sessions = {}
    for session_id, session_events in by_session.items():
        ordered = sorted(session_events, key=lambda e: (e.event_timestamp, e.event_id))
        first = ordered[0]
        agent = parsed(first.user_agent)
        utm = first.utm or {}
        purchases = [e for e in ordered if e.event_name == "purchase"]
        revenue = sum(
            (
                (e.quantity or 0) * (e.discount_price or e.price or 0)
                for e in purchases
                if _in_reporting_currency(e)
            ),
            Decimal(0),
        )
        sessions[session_id] = {
            "channel": channel(first),
            **{f"utm_{name}": utm.get(name) for name in ("source", "medium", "campaign")},
            **{f"utm_{name}": utm.get(name) for name in ("term", "content")},
            "referrer_host": referrer_host(first.referrer),
            "exit_page_path": next(
                (e.page_path for e in reversed(ordered) if e.page_path is not None), None
            ),
            "device_class": agent.device_class if agent else "other",
            "browser_family": agent.browser_family if agent else None,
            "os_family": agent.os_family if agent else None,
            "engaged_seconds": _engaged(pings_by_session[session_id]),
            "orders": len({e.order_id for e in purchases if e.order_id is not None}),
            "revenue": Decimal(revenue).quantize(CENT),
        }
    return sessions


def expected_page_views(events: list[Event]) -> dict[str, dict[str, Any]]:
    """fct_page_views, per page_view_id."""
    views_by_session: dict[str, dict[str, Event]] = defaultdict(dict)
    for event in sorted(counted_in_marts(events), key=lambda e: (e.event_timestamp, e.event_id)):
        if event.event_name == "page_view":
            key = event.page_view_id or event.event_id
            views_by_session[event.session_id].setdefault(key, event)
    pings: dict[tuple[str, str | None], list[Event]] = defaultdict(list)
    for ping in counted_pings(events):
        pings[(ping.session_id, ping.page_view_id)].append(ping)
    page_views = {}
    for session_id, views in views_by_session.items():
        for position, (key, view) in enumerate(views.items(), start=1):
            view_pings = pings[(session_id, key)]
            depths = [
                p.ping["max_scroll_depth_pct"]
                for p in view_pings
                if p.ping and p.ping.get("max_scroll_depth_pct") is not None
            ]
            page_views[key] = {
                "session_id": session_id,
                "client_id": view.client_id,
                "user_id": view.user_id,
                "page_view_at": view.event_timestamp,
                "view_date": view.event_date,
                "page_path": view.page_path,
                "page_url": view.page_url,
                "page_title": view.page_title,
                "referrer": view.referrer,
                "engaged_seconds": _engaged(view_pings),
                "max_scroll_depth_pct": max(depths) if depths else None,
                "page_pings": len(view_pings),
                "is_entry": position == 1,
                "is_exit": position == len(views),
            }
    return page_views


TRAFFIC_DIMENSIONS = (
    "channel", "utm_source", "utm_medium", "utm_campaign", "entry_page_path", "device_class",
    "browser_family",
)  # fmt: skip


def expected_traffic(
    sessions: dict[str, dict[str, Any]], acquisition: dict[str, dict[str, Any]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """fct_traffic_daily from expected_sessions() and expected_session_acquisition()."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for session_id, session in sessions.items():
        whole = {**session, **acquisition[session_id]}
        key = (
            whole["session_date"],
            *(whole[name] if whole[name] is not None else NOT_SET for name in TRAFFIC_DIMENSIONS),
        )
        row = rows.setdefault(
            key,
            {
                "sessions": 0,
                "sessions_with_page_view": 0,
                "sessions_with_product_view": 0,
                "sessions_with_add_to_cart": 0,
                "sessions_with_checkout": 0,
                "sessions_with_purchase": 0,
                "bounces": 0,
                "engaged_seconds": Decimal(0),
                "orders": 0,
                "revenue": Decimal(0),
            },
        )
        row["sessions"] += 1
        for step in ("page_view", "product_view", "add_to_cart", "checkout", "purchase"):
            row[f"sessions_with_{step}"] += whole[f"{step}s"] > 0
        row["bounces"] += whole["is_bounce"]
        row["engaged_seconds"] += whole["engaged_seconds"]
        row["orders"] += whole["orders"]
        row["revenue"] += whole["revenue"]
    return rows


def expected_bot_traffic(events: list[Event]) -> dict[tuple[date, str], dict[str, int]]:
    """fct_bot_traffic_daily: bots' events (any but consent_update) by day and bot."""
    groups: dict[tuple[date, str], list[Event]] = defaultdict(list)
    for event in events:
        if is_bot(event.user_agent) and event.event_name != "consent_update":
            agent = parsed(event.user_agent)
            name = agent.bot_name if agent and agent.bot_name else "(unknown)"
            groups[(event.event_date, name)].append(event)
    return {
        key: {"events": len(group), "sessions": len({e.session_id for e in group})}
        for key, group in groups.items()
    }
