{{
    config(**incremental_config(
        unique_key='event_date',
        partition_by='event_date',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['event_date', 'bot_name'], 'unique': true},
        ],
    ))
}}
-- One row per (event_date, bot_name): the events and sessions of bots and crawlers
-- (clickstream_events.is_bot), which every other mart leaves out. Incremental runs recompute
-- every day that received a bot's event since the last run, whole.

with bot_events as {{ not_materialized() }} (
    select * from {{ ref('clickstream_events') }}
    where {{ counted_bot_events() }}
),

{% if is_incremental() %}
    {{- check_built_with_vars() }}
    touched_dates as (
        select distinct event_date
        from bot_events
        where loaded_at >= {{ loaded_at_window_start(this) }}
    ),

    day_events as (
        select bot_events.*
        from bot_events
        inner join touched_dates
            on bot_events.event_date = touched_dates.event_date
    ),
{% else %}
    day_events as (
        select * from bot_events
    ),
{% endif %}

final as (
    select
        event_date,
        coalesce(bot_name, '(unknown)')::{{ type_text() }} as bot_name,
        count(*)::integer as events,
        count(distinct session_id)::integer as sessions,
        max(loaded_at) as last_loaded_at
    from day_events
    group by event_date, coalesce(bot_name, '(unknown)')
)

{{ incremental_result('final') }}
