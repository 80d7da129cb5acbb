{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_hour',
        on_schema_change='fail',
        indexes=[
            {'columns': ['event_hour', 'event_name'], 'unique': true},
        ],
    )
}}
-- One row per (event_hour, event_name): events, distinct users (user_id, else client_id) and
-- distinct sessions. Distinct counts do not add up, so incremental runs recompute every hour
-- that received events since the last run, whole (all its event names).

with events as not materialized (
    select * from {{ ref('clickstream_events') }}
),

{% if is_incremental() %}
    touched_hours as (
        select distinct date_trunc('hour', event_timestamp, 'UTC') as event_hour
        from events
        where loaded_at >= {{ loaded_at_window_start(this, 'last_loaded_at') }}
    ),

    hour_events as (
        select events.*
        from events
        inner join touched_hours
            on
                events.event_timestamp >= touched_hours.event_hour
                and events.event_timestamp < touched_hours.event_hour + interval '1 hour'
    ),
{% else %}
    hour_events as (
        select * from events
    ),
{% endif %}

final as (
    select
        date_trunc('hour', event_timestamp, 'UTC') as event_hour,
        event_name,
        count(*)::integer as events,
        count(distinct coalesce(user_id, client_id))::integer as users,
        count(distinct session_id)::integer as sessions,
        max(loaded_at) as last_loaded_at
    from hour_events
    group by 1, 2
)

select * from final
