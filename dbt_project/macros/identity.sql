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

    They read the events loaded since window_start and, of the history, only the events of
    the few clients whose user or first visit may have changed: a returning visitor's older
    events are never read again.

    - window_events, window_clients: the events loaded since window_start, their clients;
    - rekeyed_clients: those whose user may have changed: an event with a user_id at or
      before the one that identifies the client now arrived in the window (otherwise the
      identifying event was there at the previous run, and so was the same user_key);
    - moved_clients: those whose first visit may have moved: an event of the window is no
      later than the client's first one (a new client, or a late event from before it);
    - changed_client_events: every event of the rekeyed and moved clients, with the first
      visit of each as the previous run saw it (first_seen_before_window);
    - changed_user_clients: each changed client with every user it may belong to now or
      may have belonged to at the previous run (for a rekeyed client, its 'anon:' key and
      every user_id on its events: the previous run may have read some of the window too);
    - touched_user_keys: the users of window_clients now, and those of changed_user_clients;
    - unsettled_users: the users of changed_user_clients whose first visit may differ from
      the previous run's. The clients of a user that did not change were theirs before and
      are now, with the same first visit: when one of them is no later than every event of
      the user's changed clients, that is the user's first visit, before and now (a
      returning user logging in on a new device);
    - first_visit_candidates: every time at which an unsettled user's first visit was or may
      have been, before this run or now: the first visit of its unchanged clients, and each
      event of its changed clients no later than the first one loaded before the window
      (the client's first visit as the previous run saw it is one of them).
#}
{% macro user_touch_ctes(window_start) -%}
    window_events as (
        select
            client_id,
            user_id,
            event_timestamp,
            event_date
        from events
        where loaded_at >= {{ window_start }}
    ),

    window_clients as (
        select
            client_id,
            min(event_timestamp) as first_seen_in_window
        from window_events
        group by client_id
    ),

    rekeyed_clients as (
        select distinct window_events.client_id
        from window_events
        inner join identity
            on window_events.client_id = identity.client_id
        where
            window_events.user_id is not null
            and window_events.event_timestamp <= identity.identified_at
    ),

    moved_clients as (
        select window_clients.client_id
        from window_clients
        inner join identity
            on window_clients.client_id = identity.client_id
        where window_clients.first_seen_in_window <= identity.first_seen_at
    ),

    changed_clients as (
        select client_id from rekeyed_clients
        union
        select client_id from moved_clients
    ),

    changed_client_events as (
        select
            events.client_id,
            events.user_id,
            events.event_timestamp,
            events.event_date,
            -- a case, not a filter clause: window aggregates take no filter in every SQL
            min(
                case when events.loaded_at < {{ window_start }} then events.event_timestamp end
            ) over (partition by events.client_id) as first_seen_before_window
        from events
        inner join changed_clients
            on events.client_id = changed_clients.client_id
    ),

    -- each changed client with every user it may belong to now or may have belonged to
    -- at the previous run (its 'anon:' key, the user_ids on its events, when rekeyed)
    changed_user_clients as (
        select
            identity.user_key,
            identity.client_id
        from identity
        inner join changed_clients
            on identity.client_id = changed_clients.client_id
        union
        select
            'anon:' || client_id as user_key,
            client_id
        from rekeyed_clients
        union
        select
            changed_client_events.user_id as user_key,
            changed_client_events.client_id
        from changed_client_events
        inner join rekeyed_clients
            on changed_client_events.client_id = rekeyed_clients.client_id
        where changed_client_events.user_id is not null
    ),

    touched_user_keys as (
        select identity.user_key
        from identity
        inner join window_clients
            on identity.client_id = window_clients.client_id
        union
        select user_key from changed_user_clients
    ),

    -- a changed user's first visit over its clients that did not change (theirs before and
    -- now, with the same first visit), and over the changed clients it may have had
    unchanged_client_first_visits as (
        select
            identity.user_key,
            min(identity.first_seen_at) as first_visit_at
        from identity
        left join changed_clients
            on identity.client_id = changed_clients.client_id
        where
            changed_clients.client_id is null
            and identity.user_key in (select user_key from changed_user_clients)
        group by identity.user_key
    ),

    changed_client_first_visits as (
        select
            changed_user_clients.user_key,
            min(identity.first_seen_at) as first_visit_at
        from changed_user_clients
        inner join identity
            on changed_user_clients.client_id = identity.client_id
        group by changed_user_clients.user_key
    ),

    -- the users whose first visit may differ from the previous run's: all but those with an
    -- unchanged client first seen no later than every event of their changed clients (that
    -- is their first visit, before and now)
    unsettled_users as (
        select
            changed_client_first_visits.user_key,
            unchanged_client_first_visits.first_visit_at as unchanged_first_visit_at
        from changed_client_first_visits
        left join unchanged_client_first_visits
            on changed_client_first_visits.user_key = unchanged_client_first_visits.user_key
        where
            unchanged_client_first_visits.first_visit_at is null
            or changed_client_first_visits.first_visit_at
            < unchanged_client_first_visits.first_visit_at
    ),

    first_visit_candidates as (
        select unchanged_first_visit_at as first_visit_at
        from unsettled_users
        where unchanged_first_visit_at is not null
        union
        select changed_client_events.event_timestamp as first_visit_at
        from changed_client_events
        inner join changed_user_clients
            on changed_client_events.client_id = changed_user_clients.client_id
        inner join unsettled_users
            on changed_user_clients.user_key = unsettled_users.user_key
        where
            changed_client_events.first_seen_before_window is null
            or changed_client_events.event_timestamp
            <= changed_client_events.first_seen_before_window
    ),
{%- endmacro %}

{#
    For the models that recompute a client whole, from all its events (int_user_identity,
    int_client_active_weeks): the CTE `client_events`, every event (of the CTE `events`
    before it) of the clients that received events since the model's window start; every
    event in a full build.
#}
{% macro client_events_to_recompute() -%}
    {%- if is_incremental() %}
    {{- check_built_with_vars() }}
    touched_clients as (
        select distinct client_id
        from events
        where loaded_at >= {{ loaded_at_window_start(this) }}
    ),

    client_events as (
        select events.*
        from events
        inner join touched_clients
            on events.client_id = touched_clients.client_id
    ),
    {%- else %}
    client_events as (
        select * from events
    ),
    {%- endif %}
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
