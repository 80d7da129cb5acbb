{{
    config(**incremental_config(
        unique_key='activity_date',
        partition_by='activity_date',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['activity_date'], 'unique': true},
        ],
    ))
}}
-- One row per activity_date (UTC): the users (dim_users' user_key, stitched) with a counted
-- event that day, new (their first visit, over all their clients, was that day) or
-- returning, and the sessions with an event that day, by whether their user was new.
-- Incremental runs recompute, whole, the days of the events loaded since the last run, every
-- day of a client whose user changed (a login), and every day on which the first visit of a
-- user whose clients or first visits changed was or may have been before this run
-- (macros/identity.sql).

with events as {{ not_materialized() }} (
    select * from {{ ref('clickstream_events') }}
    where {{ counted_in_marts() }}
),

identity as {{ not_materialized() }} (
    select * from {{ ref('int_user_identity') }}
),

users as (
    select * from {{ ref('dim_users') }}
),

{% if is_incremental() %}
    {{- check_built_with_vars() }}
    {#- The days to recompute, read before the model runs and written in as literals (see
        touched_values): joined from the CTEs, the planner could not tell how few they are,
        and joined every counted event of the history to the users before keeping them. -#}
    {%- set touched_dates_query -%}
        with events as {{ not_materialized() }} (
            select * from {{ ref('clickstream_events') }}
            where {{ counted_in_marts() }}
        ),

        identity as {{ not_materialized() }} (
            select * from {{ ref('int_user_identity') }}
        ),

        {{ user_touch_ctes(loaded_at_window_start(this)) }}

        touched_dates as (
            select event_date as activity_date
            from window_events
            union
            select changed_client_events.event_date as activity_date
            from changed_client_events
            inner join rekeyed_clients
                on changed_client_events.client_id = rekeyed_clients.client_id
            union
            select {{ utc_date('first_visit_at') }} as activity_date
            from first_visit_candidates
        )

        select {{ text_of('activity_date') }} from touched_dates order by 1
    {%- endset %}

    day_events as (
        select * from events
        where event_date in ({{ date_literals(query_values(touched_dates_query)) }})
    ),
{% else %}
    day_events as (
        select * from events
    ),
{% endif %}

classified as (
    select
        day_events.event_date as activity_date,
        day_events.session_id,
        identity.user_key,
        day_events.event_date = {{ utc_date('users.first_seen_at') }} as is_new_user,
        day_events.loaded_at
    from day_events
    inner join identity
        on day_events.client_id = identity.client_id
    inner join users
        on identity.user_key = users.user_key
),

final as (
    select
        activity_date,
        count(distinct user_key)::integer as users,
        count(distinct user_key) filter (where is_new_user)::integer as new_users,
        count(distinct user_key) filter (where not is_new_user)::integer as returning_users,
        count(distinct session_id)::integer as sessions,
        count(distinct session_id) filter (where is_new_user)::integer as sessions_of_new_users,
        count(distinct session_id) filter (
            where not is_new_user
        )::integer as sessions_of_returning_users,
        max(loaded_at) as last_loaded_at
    from classified
    group by activity_date
)

{{ incremental_result('final') }}
