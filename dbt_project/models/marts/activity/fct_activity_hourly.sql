{{
    config(**incremental_config(
        unique_key='event_hour',
        partition_by='event_hour',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['event_hour', 'event_name'], 'unique': true},
        ],
    ))
}}
-- One row per (event_hour, event_name): events, distinct users (user_id, else client_id) and
-- distinct sessions. Distinct counts do not add up, so incremental runs recompute every hour
-- that received events since the last run, whole (all its event names).

-- Only the events the marts count (macros/consent.sql): no consent_update row.
with events as {{ not_materialized() }} (
    select * from {{ ref('clickstream_events') }}
    where {{ counted_in_marts() }}
),

{% if is_incremental() %}
    {{- check_built_with_vars() }}
    {%- set touched_hours = touched_values(
        utc_hour('event_timestamp'),
        loaded_at_window_start(this),
    ) %}
    -- the hours that received events since the last run, as literals (see touched_values)
    hour_events as (
        select * from events
        where {{ within_hours('event_timestamp', touched_hours) }}
    ),
{% else %}
    hour_events as (
        select * from events
    ),
{% endif %}

final as (
    select
        {{ utc_hour('event_timestamp') }} as event_hour,
        event_name,
        count(*)::integer as events,
        count(distinct coalesce(user_id, client_id))::integer as users,
        count(distinct session_id)::integer as sessions,
        max(loaded_at) as last_loaded_at
    from hour_events
    group by 1, 2
)

{{ incremental_result('final') }}
