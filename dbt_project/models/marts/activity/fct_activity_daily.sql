{{
    config(**incremental_config(
        unique_key='event_date',
        partition_by='event_date',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['event_date'], 'unique': true},
        ],
    ))
}}
-- One row per event_date (UTC): events, active users and sessions, logged-in users and new
-- clients. Distinct counts over a day cannot be summed from hours, hence this model;
-- incremental runs recompute every day that received events since the last run, whole.

-- Only the events the marts count (macros/consent.sql): no consent_update row.
with events as {{ not_materialized() }} (
    select * from {{ ref('clickstream_events') }}
    where {{ counted_in_marts() }}
),

{% if is_incremental() %}
    {{- check_built_with_vars() }}
    {%- set touched_dates = touched_values(
        'event_date', loaded_at_window_start(this)
    ) %}
    -- the days that received events since the last run, as literals (see touched_values)
    day_events as (
        select * from events
        where event_date in ({{ date_literals(touched_dates) }})
    ),
{% else %}
    day_events as (
        select * from events
    ),
{% endif %}

final as (
    select
        event_date,
        count(*)::integer as events,
        count(distinct coalesce(user_id, client_id))::integer as users,
        count(distinct session_id)::integer as sessions,
        count(distinct user_id) filter (
            where user_login_state = 'logged_in'
        )::integer as logged_in_users,
        count(distinct client_id) filter (where is_first_visit)::integer as new_clients,
        max(loaded_at) as last_loaded_at
    from day_events
    group by event_date
)

{{ incremental_result('final') }}
