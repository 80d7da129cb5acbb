{{
    config(**incremental_config(
        unique_key='client_id',
        partition_by='active_week',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['client_id', 'active_week'], 'unique': true},
            {'columns': ['active_week']},
        ],
    ))
}}
-- One row per (client_id, active_week): a week (Monday, UTC) in which the client has a counted
-- event. What fct_retention_weekly counts active users from: a client's weeks are a handful of
-- rows where its events are many. Incremental runs recompute, from all their events, every
-- week of the clients that received events since the last run (delete+insert on client_id),
-- as int_user_identity does.

with events as {{ not_materialized() }} (
    select * from {{ ref('clickstream_events') }}
    where {{ counted_in_marts() }}
),

{{ client_events_to_recompute() }}

weeks as (
    select
        client_id,
        {{ utc_week_start('event_timestamp') }} as active_week,
        loaded_at
    from client_events
),

final as (
    select
        client_id::{{ type_text() }} as client_id,
        active_week,
        max(loaded_at) as last_loaded_at
    from weeks
    group by client_id, active_week
)

{{ incremental_result('final') }}
