"""A small KNOWN warehouse for the dashboard tests: the marts the dashboards read, with the
columns of briefs/marts.md, and the loader's status tables, filled by hand so that every
figure on the pages can be asserted exactly.

Three UTC days, 2026-11-01 (a Sunday) to 2026-11-03, three products, and on the day after,
2026-11-04, a handful of late events (a partial day, which the date range leaves out by
default). Four loader runs, the last of which found nothing new. The sessions split by
channel, source, campaign, landing page, device and browser (fct_traffic_daily) add up to
the funnel's days and their revenue to the products'; two weekly cohorts of users.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from psycopg2.extensions import connection

from extract_load.schema import ensure_schema, rebuild_load_runs

FIRST_DAY = date(2026, 11, 1)
LAST_DAY = date(2026, 11, 3)
STRAY_DAY = date(2026, 11, 4)  # 2 late events: under 10% of the busiest day's 23

MARTS_DDL = """
create table public.fct_funnel_daily (
    session_date date primary key,
    sessions int not null,
    sessions_with_page_view int not null,
    sessions_with_product_view int not null,
    sessions_with_add_to_cart int not null,
    sessions_with_checkout int not null,
    sessions_with_purchase int not null,
    product_view_rate numeric,
    add_to_cart_rate numeric,
    checkout_rate numeric,
    purchase_rate numeric,
    session_conversion_rate numeric
);
create table public.dim_products (
    product_id text primary key,
    product_name text,
    category text,
    brand text,
    price numeric(12, 2),
    discount_price numeric(12, 2),
    first_seen_at timestamptz,
    last_seen_at timestamptz
);
create table public.fct_product_performance_daily (
    event_date date not null,
    product_id text not null,
    product_name text,
    category text,
    brand text,
    views int not null,
    add_to_carts int not null,
    removes int not null,
    checkouts int not null,
    purchases int not null,
    units int not null,
    revenue numeric(14, 2) not null,
    currency text not null,
    purchases_in_other_currencies int not null,
    view_to_cart_rate numeric,
    cart_to_purchase_rate numeric
);
create table public.fct_activity_hourly (
    event_hour timestamptz not null,
    event_name text not null,
    events int not null,
    users int not null,
    sessions int not null
);
create table public.fct_activity_daily (
    event_date date primary key,
    events int not null,
    users int not null,
    sessions int not null,
    logged_in_users int not null,
    new_clients int not null
);
create table public.fct_traffic_daily (
    session_date date not null,
    channel text not null,
    utm_source text not null,
    utm_medium text not null,
    utm_campaign text not null,
    entry_page_path text not null,
    device_class text not null,
    browser_family text not null,
    sessions int not null,
    sessions_with_page_view int not null,
    sessions_with_product_view int not null,
    sessions_with_add_to_cart int not null,
    sessions_with_checkout int not null,
    sessions_with_purchase int not null,
    bounces int not null,
    engaged_seconds numeric not null,
    orders int not null,
    revenue numeric(14, 2) not null,
    currency text not null
);
create table public.fct_users_daily (
    activity_date date primary key,
    users int not null,
    new_users int not null,
    returning_users int not null,
    sessions int not null,
    sessions_of_new_users int not null,
    sessions_of_returning_users int not null
);
create table public.fct_retention_weekly (
    cohort_week date not null,
    weeks_since_first_visit int not null,
    cohort_users int not null,
    active_users int not null,
    retention_rate numeric
);
create table public.invalid_events (
    s3_key text,
    line_number integer,
    event_id text,
    event_name text,
    invalid_reasons text[],
    payload jsonb,
    loaded_at timestamptz
);
"""

# session_date, sessions, with page_view, product_view, add_to_cart, checkout, purchase
FUNNEL = [
    ("2026-11-01", 100, 95, 60, 20, 10, 5),
    ("2026-11-02", 200, 190, 100, 40, 16, 8),
    ("2026-11-03", 50, 50, 30, 0, 0, 0),
]
# session_date, channel, utm_source, utm_medium, utm_campaign, entry_page_path, device_class,
# browser_family, sessions, with page_view, product_view, add_to_cart, checkout, purchase,
# bounces, engaged_seconds, orders, revenue (EUR). Each day's rows add up to its FUNNEL row, and
# its revenue to its PRODUCT_DAYS' (5080.00, 5120.50, 0).
TRAFFIC = [
    ("2026-11-01", "Organic Search", "(not set)", "(not set)", "(not set)", "/", "mobile",
     "Chrome", 50, 48, 30, 10, 5, 2, 10, 3000, 2, "2000.00"),
    ("2026-11-01", "Paid Search", "google", "cpc", "black-friday", "/product/laptop-pro-14",
     "desktop", "Firefox", 30, 28, 20, 8, 4, 3, 2, 2400, 3, "3080.00"),
    ("2026-11-01", "Direct", "(not set)", "(not set)", "(not set)", "/", "desktop", "Chrome",
     20, 19, 10, 2, 1, 0, 5, 600, 0, "0.00"),
    ("2026-11-02", "Organic Search", "(not set)", "(not set)", "(not set)", "/", "mobile",
     "Chrome", 90, 85, 45, 18, 7, 3, 20, 5400, 3, "3000.00"),
    ("2026-11-02", "Paid Search", "google", "cpc", "black-friday", "/product/laptop-pro-14",
     "mobile", "Safari", 60, 58, 35, 15, 6, 4, 5, 4200, 4, "2060.50"),
    ("2026-11-02", "Email", "newsletter", "email", "november-news", "/category/accessories",
     "tablet", "Safari", 50, 47, 20, 7, 3, 1, 8, 2500, 1, "60.00"),
    ("2026-11-03", "Social", "facebook", "social", "(not set)", "/", "mobile", "Chrome",
     50, 50, 30, 0, 0, 0, 25, 1000, 0, "0.00"),
]  # fmt: skip
# activity_date, users, new_users, returning_users, sessions, of new users, of returning users
USERS_DAYS = [
    ("2026-11-01", 7, 4, 3, 8, 4, 4),
    ("2026-11-02", 9, 3, 6, 12, 3, 9),
    ("2026-11-03", 2, 1, 1, 2, 1, 1),
    ("2026-11-04", 1, 0, 1, 1, 0, 1),  # partial: 1 session, the busiest day has 12
]
# cohort_week (Monday), weeks_since_first_visit, cohort_users, active_users. The mart has a
# row for every week 0..12; weeks after the last day with data (2026-11-04) are not shown.
RETENTION = [
    ("2026-10-26", 0, 4, 4),  # the 4 new users of Sunday 1 November
    ("2026-10-26", 1, 4, 3),  # in progress: the week of 2 to 8 November
    ("2026-10-26", 2, 4, 0),
    ("2026-11-02", 0, 4, 4),  # in progress
    ("2026-11-02", 1, 4, 0),
]
# product_id, name, category, brand, price
PRODUCTS = [
    ("p1", "Laptop Pro 14", "computers", "Acme", "1000.00"),
    ("p2", "Wireless Mouse", "accessories", "Clicky", "20.00"),
    ("p3", "Mechanical Keyboard", "accessories", "Acme", "60.25"),
]
# event_date, product_id, views, add_to_carts, removes, checkouts, purchases, units, revenue,
# currency, purchases_in_other_currencies (one of p2's four purchases on 11-01 was in USD: in
# purchases and units, not in the EUR revenue)
PRODUCT_DAYS = [
    ("2026-11-01", "p1", 40, 10, 2, 6, 4, 5, "5000.00", "EUR", 0),
    ("2026-11-01", "p2", 30, 6, 1, 3, 4, 5, "80.00", "EUR", 1),
    ("2026-11-02", "p1", 50, 12, 0, 5, 5, 5, "5000.00", "EUR", 0),
    ("2026-11-02", "p3", 25, 5, 0, 2, 2, 2, "120.50", "EUR", 0),
    ("2026-11-03", "p2", 10, 0, 0, 0, 0, 0, "0.00", "EUR", 0),
]
# event_hour (UTC), event_name, events, users, sessions
HOURS = [
    ("2026-11-01 09:00+00", "page_view", 10, 5, 6),
    ("2026-11-01 09:00+00", "product_view", 4, 2, 2),
    ("2026-11-01 10:00+00", "page_view", 6, 3, 3),
    ("2026-11-01 10:00+00", "purchase", 1, 1, 1),
    ("2026-11-02 09:00+00", "page_view", 20, 8, 9),
    ("2026-11-02 23:00+00", "add_to_cart", 3, 2, 2),
    ("2026-11-03 00:00+00", "page_view", 5, 2, 2),
    ("2026-11-04 00:00+00", "page_view", 1, 1, 1),  # late events of a session of the 3rd
    ("2026-11-04 01:00+00", "add_to_cart", 1, 1, 1),
]
# event_date, events (= the day's hours), users, sessions, logged_in_users, new_clients
DAYS = [
    ("2026-11-01", 21, 7, 8, 2, 3),
    ("2026-11-02", 23, 9, 10, 4, 5),
    ("2026-11-03", 5, 2, 2, 0, 1),
    ("2026-11-04", 2, 1, 1, 0, 0),
]
# s3_key, lines_loaded, lines_rejected, load_id, loaded_at (SQL expression)
MANIFEST = [
    ("events/2026/11/02/09/events-a.json", 30, 0, "00000000-0000-0000-0000-00000000000a",
     "'2026-11-02 10:05+00'"),
    ("events/2026/11/02/09/events-b.json", 20, 1, "00000000-0000-0000-0000-00000000000a",
     "'2026-11-02 10:05+00'"),
    # The latest load was half an hour ago, so the page says the data is fresh.
    ("events/2026/11/03/00/events-c.json", 3, 0, "00000000-0000-0000-0000-00000000000b",
     "now() - interval '40 minutes'"),
    ("events/2026/11/04/01/events-d.json", 4, 0, "00000000-0000-0000-0000-00000000000c",
     "now() - interval '35 minutes'"),
]  # fmt: skip
# The latest run, half an hour ago, found no new object: the loader still writes its row in
# staging.load_runs (objects 0, lines 0), so the page says the data is fresh.
EMPTY_LOAD_ID = "00000000-0000-0000-0000-00000000000d"
INVALID_EVENTS = 2
LINES_LOADED = 57
VALID_EVENTS = 51  # sum of DAYS' events: 57 loaded = 51 valid + 2 invalid + 4 duplicates


def create_marts(conn: connection) -> None:
    """The empty marts and loader tables (as after a first `dbt build` on no data)."""
    ensure_schema(conn)
    with conn.cursor() as cursor:
        cursor.execute(MARTS_DDL)
    conn.commit()


def fill_known_data(conn: connection) -> None:
    with conn.cursor() as cursor:
        for row in FUNNEL:
            cursor.execute(
                """
                insert into public.fct_funnel_daily values (
                    %s, %s, %s, %s, %s, %s, %s,
                    %s::numeric / nullif(%s, 0), %s::numeric / nullif(%s, 0),
                    %s::numeric / nullif(%s, 0), %s::numeric / nullif(%s, 0),
                    %s::numeric / nullif(%s, 0)
                )
                """,
                (*row, row[3], row[1], row[4], row[3], row[5], row[4], row[6], row[5], row[6],
                 row[1]),
            )  # fmt: skip
        for product_id, name, category, brand, price in PRODUCTS:
            cursor.execute(
                "insert into public.dim_products values (%s, %s, %s, %s, %s, null,"
                " '2026-11-01 09:00+00', '2026-11-03 00:00+00')",
                (product_id, name, category, brand, price),
            )
        names = {row[0]: row[1:4] for row in PRODUCTS}
        for (
            day,
            product_id,
            views,
            carts,
            removes,
            checkouts,
            purchases,
            units,
            revenue,
            currency,
            other_currencies,
        ) in PRODUCT_DAYS:
            cursor.execute(
                """
                insert into public.fct_product_performance_daily values (
                    %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                    %s::numeric / nullif(%s, 0), %s::numeric / nullif(%s, 0)
                )
                """,
                (day, product_id, *names[product_id], views, carts, removes, checkouts,
                 purchases, units, revenue, currency, other_currencies, carts, views,
                 purchases, carts),
            )  # fmt: skip
        cursor.executemany(
            "insert into public.fct_traffic_daily values (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s, %s, %s, %s, %s, 'EUR')",
            TRAFFIC,
        )
        cursor.executemany(
            "insert into public.fct_users_daily values (%s, %s, %s, %s, %s, %s, %s)", USERS_DAYS
        )
        cursor.executemany(
            "insert into public.fct_retention_weekly values"
            " (%s, %s, %s, %s, round(%s::numeric / nullif(%s, 0), 4))",
            [(*row, row[3], row[2]) for row in RETENTION],
        )
        cursor.executemany(
            "insert into public.fct_activity_hourly values (%s, %s, %s, %s, %s)", HOURS
        )
        cursor.executemany(
            "insert into public.fct_activity_daily values (%s, %s, %s, %s, %s, %s)", DAYS
        )
        for line in range(1, INVALID_EVENTS + 1):
            cursor.execute(
                "insert into public.invalid_events values (%s, %s, null, 'page_view',"
                " array['event_id is missing'], '{}'::jsonb, '2026-11-02 10:05+00')",
                ("events/2026/11/02/09/events-a.json", line),
            )
        for s3_key, loaded, rejected, load_id, loaded_at in MANIFEST:
            cursor.execute(
                "insert into staging.load_manifest"
                " (s3_key, etag, size_bytes, lines_loaded, lines_rejected, loaded_at, load_id)"
                f" values (%s, 'etag', 1000, %s, %s, {loaded_at}, %s)",
                (s3_key, loaded, rejected, load_id),
            )
        cursor.execute(
            "insert into staging.rejected_events (s3_key, line_number, reason, raw_line)"
            " values ('events/2026/11/02/09/events-b.json', 7, 'not JSON', '{oops')"
        )
        rebuild_load_runs(cursor)  # the manifest was written by hand, not by the loader
    insert_empty_load_run(conn, EMPTY_LOAD_ID, "now() - interval '30 minutes'")
    conn.commit()


def insert_empty_load_run(conn: connection, load_id: str, loaded_at: str) -> None:
    """A loader run that found no new object, as the loader records it: its row in
    staging.load_runs with 0 objects and 0 lines, and nothing in the manifest."""
    with conn.cursor() as cursor:
        cursor.execute(
            "insert into staging.load_runs"
            " (load_id, first_loaded_at, loaded_at, objects, lines_loaded, lines_rejected)"
            f" values (%s, {loaded_at}, {loaded_at}, 0, 0, 0)",
            (load_id,),
        )


# ---------------------------------------------------------------- a generated warehouse
#
# The pages' figures on traffic the generator makes (channels, devices, returning and
# logging-in users), sent through the real pipeline: raw objects as the ingest Lambda writes
# them -> the loader -> `dbt run`. The tests compare each figure with the same figure worked
# out in plain Python from the raw lines (tests/integration/dbt_support.py), not from a mart.

GENERATED_START = date(2026, 3, 2)  # a Monday
# Three weeks and a Monday (2 to 23 March): two cohorts have a whole week 1, and each of the
# four cohorts has a week in progress.
GENERATED_DAYS = 22
GENERATED_EVENTS = 6000
GENERATED_SEED = 7
GENERATED_LAST_DAY = GENERATED_START + timedelta(days=GENERATED_DAYS - 1)


def build_generated_warehouse(bucket: str, prefix: str) -> None:
    """Generated traffic into `bucket` (the Lambda's objects), loaded, built by dbt run, in
    the database PGDATABASE names."""
    # imported here: the known warehouse's tests need neither the generator nor dbt
    from clickstream.storage import s3_client
    from devtools.traffic import generate_requests, s3_sink, write_requests
    from extract_load.loader import load_new_objects
    from tests.integration.dbt_support import dbt

    requests = generate_requests(GENERATED_EVENTS, GENERATED_DAYS, GENERATED_START, GENERATED_SEED)
    write_requests(requests, s3_sink(bucket, prefix, s3_client()))
    first_hour = datetime.combine(GENERATED_START, time(), tzinfo=UTC)
    # late requests land up to 9 hours after the last day
    load_new_objects(first_hour, first_hour + timedelta(days=GENERATED_DAYS + 1))
    dbt("seed")  # the channel_sources seed the channel grouping reads
    dbt("run")
