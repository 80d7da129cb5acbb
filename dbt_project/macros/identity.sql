{#
    Identity stitching (int_user_identity) is retroactive: a client that logs in maps its
    earlier anonymous events to the user, so a run that reads one new event can change rows
    keyed by an older user_key ('anon:' || client_id, or a user the client was mapped to
    before a late event with an earlier login arrived), and every day and cohort week where
    that user's first visit was. The marts keyed by users (dim_users, fct_orders,
    fct_retention_weekly, fct_users_daily) find what to recompute with these CTEs, which
    expect `events` (the counted events of clickstream_events) and `identity`
    (int_user_identity, already up to date in this run) before them. `window_start`: the
    mart's loaded_at_window_start(this).

    - window_clients: the clients with events loaded since window_start;
    - rekeyed_clients: those whose user may have changed: an event with a user_id at or
      before the one that identifies the client now arrived in the window (otherwise the
      identifying event was there at the previous run, and so was the same user_key);
    - touched_user_keys: the users of window_clients now, and for rekeyed clients every user
      they may have had before (their 'anon:' key and every user_id on their events);
    - first_visit_candidates: every time a touched user's first visit may have been at,
      before this run or now: the first_seen_at of each of its clients now, and for each
      window client each of its events no later than the first one loaded before the window
      (its first visit as the previous run saw it is one of them).
#}
{% macro user_touch_ctes(window_start) -%}
    window_clients as (
        select distinct client_id
        from events
        where loaded_at >= {{ window_start }}
    ),

    window_client_events as (
        select
            events.client_id,
            events.user_id,
            events.event_timestamp,
            events.event_date,
            events.loaded_at >= {{ window_start }} as is_in_window,
            -- a case, not a filter clause: window aggregates take no filter in every SQL
            min(
                case when events.loaded_at < {{ window_start }} then events.event_timestamp end
            ) over (partition by events.client_id) as first_seen_before_window
        from events
        inner join window_clients
            on events.client_id = window_clients.client_id
    ),

    rekeyed_clients as (
        select distinct window_client_events.client_id
        from window_client_events
        inner join identity
            on window_client_events.client_id = identity.client_id
        where
            window_client_events.is_in_window
            and window_client_events.user_id is not null
            and window_client_events.event_timestamp <= identity.identified_at
    ),

    touched_user_keys as (
        select identity.user_key
        from identity
        inner join window_clients
            on identity.client_id = window_clients.client_id
        union
        select 'anon:' || rekeyed_clients.client_id as user_key
        from rekeyed_clients
        union
        select window_client_events.user_id as user_key
        from window_client_events
        inner join rekeyed_clients
            on window_client_events.client_id = rekeyed_clients.client_id
        where window_client_events.user_id is not null
    ),

    first_visit_candidates as (
        select identity.first_seen_at as first_visit_at
        from identity
        inner join touched_user_keys
            on identity.user_key = touched_user_keys.user_key
        union
        select event_timestamp as first_visit_at
        from window_client_events
        where
            first_seen_before_window is null
            or event_timestamp <= first_seen_before_window
    ),
{%- endmacro %}

{# The Monday (UTC) of the week of a timestamptz, as a date: a retention cohort's week. #}
{% macro utc_week_start(timestamp) -%}
    {{ return(adapter.dispatch('utc_week_start', 'clickstream')(timestamp)) }}
{%- endmacro %}

{% macro default__utc_week_start(timestamp) -%}
    date_trunc('week', {{ timestamp }} at time zone 'UTC')::date
{%- endmacro %}

{# Spark: its timestamps are in the session time zone, UTC; its weeks start on Monday too. #}
{% macro spark__utc_week_start(timestamp) -%}
    cast(date_trunc('week', {{ timestamp }}) as date)
{%- endmacro %}

{#
    The weeks after the first visit that fct_retention_weekly reports, 0 to 12, as rows of
    `weeks_since_first_visit` (a union of literals: portable, unlike generate_series).
#}
{% macro retention_week_offsets(last_week=12) -%}
    {{ return(adapter.dispatch('retention_week_offsets', 'clickstream')(last_week)) }}
{%- endmacro %}

{% macro default__retention_week_offsets(last_week) -%}
    {%- for offset in range(last_week + 1) %}
    select {{ offset }} as weeks_since_first_visit{{ ' union all' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#
    Spark: a generated sequence. Its union of literals, cross joined with the cohorts in an
    incremental run, failed every task on Spark 4.3 ("ClassCastException: cannot assign
    instance of scala.collection.generic.DefaultSerializationProxy to field
    org.apache.spark.sql.execution.UnionExec.children"); the sequence gives the same rows.
#}
{% macro spark__retention_week_offsets(last_week) -%}
    select explode(sequence(0, {{ last_week }})) as weeks_since_first_visit
{%- endmacro %}
