from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from clickstream.contract import validate_event
from clickstream.raw_layout import hour_prefix
from devtools.traffic import (
    CATALOGUE,
    Request,
    TrafficStats,
    default_start,
    generate_requests,
    hourly_budget,
)
from devtools.traffic import main as traffic_main

START = date(2026, 3, 2)  # a Monday


def _events(requests: list[Request]) -> list[dict]:
    return [event for request in requests for event in request.events]


@pytest.fixture(scope="module")
def week() -> tuple[list[Request], TrafficStats]:
    stats = TrafficStats()
    requests = list(generate_requests(30_000, 7, START, seed=11, stats=stats))
    return requests, stats


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    first = [r.ndjson() for r in generate_requests(2_000, 1, START, seed=3)]
    again = [r.ndjson() for r in generate_requests(2_000, 1, START, seed=3)]
    other = [r.ndjson() for r in generate_requests(2_000, 1, START, seed=4)]
    assert first == again
    assert first != other


def test_same_seed_on_another_day_same_shape_ids_of_its_own() -> None:
    """A demo run on a later day adds a day: none of its ids repeat the first day's."""
    first_stats, later_stats = TrafficStats(), TrafficStats()
    first = list(generate_requests(2_000, 1, START, seed=3, stats=first_stats))
    later = list(generate_requests(2_000, 1, START + timedelta(days=1), seed=3, stats=later_stats))
    assert first_stats == later_stats
    for key in ("event_id", "session_id", "client_id"):
        first_ids = {event[key] for event in _events(first)}
        later_ids = {event[key] for event in _events(later)}
        assert first_ids.isdisjoint(later_ids), key
    assert {r.request_id for r in first}.isdisjoint(r.request_id for r in later)


@pytest.mark.parametrize("events", [0, 1, 7, 999, 5_000])
def test_exactly_n_distinct_events_and_retries_add_lines(events: int) -> None:
    stats = TrafficStats()
    requests = list(generate_requests(events, 2, START, seed=1, retry_rate=0.05, stats=stats))
    lines = _events(requests)
    assert len({event["event_id"] for event in lines}) == events == stats.distinct_events
    assert len(lines) == stats.lines
    if events >= 999:
        assert stats.retried_requests > 0
        assert len(lines) > events


def test_without_retries_lines_are_exactly_n() -> None:
    requests = generate_requests(3_333, 1, START, seed=2, retry_rate=0.0)
    assert sum(len(request.events) for request in requests) == 3_333


def test_hourly_budget_is_exact_and_busier_in_evenings_and_weekdays() -> None:
    budget = dict(hourly_budget(100_000, START, 7))
    assert sum(budget.values()) == 100_000
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    sunday = monday + timedelta(days=6)
    assert budget[monday.replace(hour=20)] > 3 * budget[monday.replace(hour=4)]
    assert budget[monday.replace(hour=20)] > budget[sunday.replace(hour=20)]


def test_funnel_drop_off_is_realistic(week: tuple[list[Request], TrafficStats]) -> None:
    sessions: dict[str, set[str]] = {}
    for event in _events(week[0]):
        sessions.setdefault(event["session_id"], set()).add(event["event_name"])
    count = Counter(name for names in sessions.values() for name in names)
    assert count["page_view"] == len(sessions)
    assert 0.50 < count["product_view"] / len(sessions) < 0.70
    assert 0.18 < count["add_to_cart"] / count["product_view"] < 0.32
    assert 0.40 < count["checkout"] / count["add_to_cart"] < 0.60
    assert 0.60 < count["purchase"] / count["checkout"] < 0.80
    assert count["remove_from_cart"] > 0


def test_visitors_are_guests_and_users_with_first_visits(
    week: tuple[list[Request], TrafficStats],
) -> None:
    events = _events(week[0])
    logged_in = [e for e in events if e["user_login_state"] == "logged_in"]
    guests = [e for e in events if e["user_login_state"] == "guest"]
    assert logged_in
    assert guests
    assert all(e["user_id"] and e["identity_source"] == "cognito" for e in logged_in)
    assert all(e["user_id"] is None and e["identity_source"] is None for e in guests)
    first_sessions: dict[str, set[str]] = {}
    for event in events:
        if event["is_first_visit"]:
            first_sessions.setdefault(event["client_id"], set()).add(event["session_id"])
    assert all(len(sessions) == 1 for sessions in first_sessions.values())
    returning = {e["client_id"] for e in events if not e["is_first_visit"]}
    assert returning & set(first_sessions)


def test_products_come_from_the_catalogue_with_their_fields(
    week: tuple[list[Request], TrafficStats],
) -> None:
    catalogue = {product.product_id: product for product in CATALOGUE}
    assert 50 <= len(catalogue) <= 150
    assert {"laptops", "monitors", "accessories/keyboards"} <= {p.category for p in CATALOGUE}
    assert any(p.discount_price is not None and p.discount_price < p.price for p in CATALOGUE)
    for event in _events(week[0]):
        name = event["event_name"]
        product = event.get("context", {}).get("product")
        if name in {"product_view", "add_to_cart", "remove_from_cart", "purchase"}:
            assert catalogue[product["id"]].name == product["name"]
        if name in {"add_to_cart", "remove_from_cart", "purchase"}:
            assert product["quantity"] >= 1
        if name in {"checkout", "purchase"}:
            assert event["context"]["order"]["currency"] == "EUR"
            assert event["context"]["order"]["order_id"]
        assert urlsplit(event["page"]["url"]).path == event["page"]["path"]


def test_requests_batch_one_session_received_after_their_events(
    week: tuple[list[Request], TrafficStats],
) -> None:
    requests, stats = week
    assert stats.late_requests > 0
    assert stats.skewed_sessions > 0
    skewed = late = 0
    for request in requests:
        assert 1 <= len(request.events) <= 8
        assert len({event["session_id"] for event in request.events}) == 1
        times = [datetime.fromisoformat(e["event_timestamp"]) for e in request.events]
        assert times == sorted(times)
        lag = request.received_at - times[-1]
        if lag < timedelta(hours=-1):
            skewed += 1  # client clock fast: invalid downstream
        elif lag > timedelta(hours=1):
            late += 1  # kept across a reload: a later hour partition
            assert lag < timedelta(hours=8, minutes=3)
        else:  # at once, or a retry up to two minutes later
            assert timedelta(0) < lag < timedelta(minutes=2, seconds=2)
    assert skewed > 0
    assert late > 0


def test_objects_are_shaped_like_the_ingest_lambdas() -> None:
    request = next(iter(generate_requests(10, 1, START, seed=9)))
    key = request.object_key("events/")
    assert key.startswith(hour_prefix("events/", request.received_at))
    assert key == f"{hour_prefix('events/', request.received_at)}events-{request.request_id}.json"
    lines = request.ndjson().decode("utf-8").splitlines()
    assert len(lines) == len(request.events)
    for line, event in zip(lines, request.events, strict=True):
        stored = json.loads(line)
        assert stored["ingest"]["request_id"] == request.request_id
        assert stored["ingest"]["source_ip"].endswith((".0", "::"))
        assert {k: v for k, v in stored.items() if k != "ingest"} == event


def test_default_start_is_the_last_full_days() -> None:
    assert default_start(1, today=date(2026, 3, 10)) == date(2026, 3, 9)
    assert default_start(7, today=date(2026, 3, 10)) == date(2026, 3, 3)


def test_every_generated_event_keeps_the_contract(
    week: tuple[list[Request], TrafficStats],
) -> None:
    problems = {
        event["event_id"]: errors for event in _events(week[0]) if (errors := validate_event(event))
    }
    assert problems == {}


def test_cli_writes_the_raw_layout_to_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--events", "50", "--start", "2026-03-02", "--seed", "2", "--retry-rate", "0"]
    assert traffic_main([*arguments, "--output-dir", str(tmp_path), "--prefix", "events/"]) == 0
    assert capsys.readouterr().out.startswith("50 events in ")
    files = sorted(tmp_path.glob("events/2026/03/02/*/events-*.json"))
    expected = {
        r.object_key("events/"): r.ndjson()
        for r in generate_requests(50, 1, START, 2, retry_rate=0)
    }
    assert {str(f.relative_to(tmp_path)): f.read_bytes() for f in files} == expected


# ------------------------------------------------------------- acquisition (issue 11)


def _sessions(requests: list[Request]) -> dict[str, list[tuple[Request, dict]]]:
    sessions: dict[str, list[tuple[Request, dict]]] = {}
    for request in requests:
        for event in request.events:
            sessions.setdefault(event["session_id"], []).append((request, event))
    return sessions


def test_sessions_arrive_through_every_channel(week: tuple[list[Request], TrafficStats]) -> None:
    landings = [events[0][1] for events in _sessions(week[0]).values()]
    mediums = Counter((e["page"].get("utm") or {}).get("medium") for e in landings)
    assert {"cpc", "social", "email", "affiliate", "display"} <= set(mediums)
    referrers = Counter(urlsplit(e["page"]["referrer"]).hostname for e in landings)
    assert {"www.google.com", "www.bing.com", "l.facebook.com", "t.co"} <= set(referrers)
    assert 0.15 < referrers[None] / len(landings) < 0.5  # direct, email and display
    paid = [e for e in landings if (e["page"].get("utm") or {}).get("medium") == "cpc"]
    assert paid
    assert all(e["page"]["click_ids"]["gclid"] for e in paid)
    assert all("utm_medium=cpc" in e["page"]["url"] for e in paid)
    assert any((e["page"].get("click_ids") or {}).get("fbclid") for e in landings)


def test_utm_is_kept_for_the_whole_session(week: tuple[list[Request], TrafficStats]) -> None:
    for events in _sessions(week[0]).values():
        utms = {json.dumps(event["page"].get("utm"), sort_keys=True) for _, event in events}
        assert len(utms) == 1


def test_about_sixty_percent_mobile_and_a_few_bots_that_never_buy(
    week: tuple[list[Request], TrafficStats],
) -> None:
    sessions = _sessions(week[0])
    agents = {session_id: events[0][0].user_agent for session_id, events in sessions.items()}
    bots = {session_id for session_id, agent in agents.items() if "bot" in agent.lower()}
    assert 0.005 <= len(bots) / len(sessions) <= 0.02
    people = [agent for session_id, agent in agents.items() if session_id not in bots]
    mobile = sum("Mobile" in agent and "iPad" not in agent for agent in people)
    assert 0.5 < mobile / len(people) < 0.7
    for session_id in bots:
        names = {event["event_name"] for _, event in sessions[session_id]}
        assert names <= {"page_view", "product_view"}
        assert all(
            "context" not in e or "browser" not in e["context"] for _, e in sessions[session_id]
        )


def test_page_views_have_ids_and_pings(week: tuple[list[Request], TrafficStats]) -> None:
    distinct = {e["event_id"]: e for e in _events(week[0])}.values()  # retries repeat events
    events = [e for e in distinct if "page_view_id" in e["page"]]  # bots send none
    views = [e["page"]["page_view_id"] for e in events if e["event_name"] == "page_view"]
    assert len(views) == len(set(views))
    assert None not in views
    pings = [e for e in events if e["event_name"] == "page_ping"]
    assert pings
    assert all(validate_event(e) == [] for e in pings[:500])
    assert {e["page"]["page_view_id"] for e in pings} <= set(views)
    assert all(0 < e["context"]["ping"]["engaged_seconds"] <= 15 for e in pings)


def test_some_guests_log_in_mid_session(week: tuple[list[Request], TrafficStats]) -> None:
    switched = 0
    for events in _sessions(week[0]).values():
        ordered = sorted((e["event_timestamp"], e["event_id"], e["user_id"]) for _, e in events)
        users = [user for _, _, user in ordered]
        if users[0] is None and users[-1] is not None:
            assert users.index(users[-1]) > 0
            switched += 1
    assert switched > 0
