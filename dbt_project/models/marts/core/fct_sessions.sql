{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='session_id',
        on_schema_change='fail',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['session_id'], 'unique': true},
            {'columns': ['session_date']},
            {'columns': ['last_loaded_at']},
        ],
    )
}}
-- One row per session_id. Incremental runs recompute, from all their events, only the sessions
-- that received events since the last run, so a late event updates its session.
-- Only the events the marts count (macros/consent.sql): never consent_update, and with var
-- consented_data_only no denied event; a session made of nothing else has no row.

with events as not materialized (
    select * from {{ ref('clickstream_events') }}
    where {{ counted_in_marts() }}
),

{% if is_incremental() %}
    {{- check_built_with_vars() }}
    touched_sessions as (
        select distinct session_id
        from events
        where loaded_at >= {{ loaded_at_window_start(this) }}
    ),

    session_events as (
        select events.*
        from events
        inner join touched_sessions
            on events.session_id = touched_sessions.session_id
    ),
{% else %}
    session_events as (
        select * from events
    ),
{% endif %}

ordered as (
    select
        *,
        row_number() over (
            partition by session_id
            order by event_timestamp, event_id
        ) as position_in_session
    from session_events
),

first_events as (
    select
        session_id,
        client_id,
        page_path as entry_page_path,
        page_referrer as referrer
    from ordered
    where position_in_session = 1
),

aggregated as (
    select
        session_id,
        {{ latest_value('user_id') }} as user_id,
        min(event_timestamp) as session_started_at,
        max(event_timestamp) as session_ended_at,
        count(*) as events,
        {{ count_events('page_view') }} as page_views,
        {{ count_events('product_view') }} as product_views,
        {{ count_events('add_to_cart') }} as add_to_carts,
        {{ count_events('remove_from_cart') }} as remove_from_carts,
        {{ count_events('checkout') }} as checkouts,
        {{ count_events('purchase') }} as purchases,
        bool_or(is_first_visit) as is_first_visit,
        max(loaded_at) as last_loaded_at
    from session_events
    group by session_id
),

final as (
    select
        aggregated.session_id::text as session_id,
        first_events.client_id::text as client_id,
        aggregated.user_id::text as user_id,
        aggregated.session_started_at,
        aggregated.session_ended_at,
        (aggregated.session_started_at at time zone 'UTC')::date as session_date,
        extract(
            epoch from aggregated.session_ended_at - aggregated.session_started_at
        )::numeric as session_duration_seconds,
        aggregated.events::integer as events,
        aggregated.page_views::integer as page_views,
        aggregated.product_views::integer as product_views,
        aggregated.add_to_carts::integer as add_to_carts,
        aggregated.remove_from_carts::integer as remove_from_carts,
        aggregated.checkouts::integer as checkouts,
        aggregated.purchases::integer as purchases,
        aggregated.add_to_carts > 0 as has_add_to_cart,
        aggregated.checkouts > 0 as has_checkout,
        aggregated.purchases > 0 as has_purchase,
        first_events.entry_page_path::text as entry_page_path,
        first_events.referrer::text as referrer,
        aggregated.events = 1 as is_bounce,
        aggregated.is_first_visit,
        aggregated.last_loaded_at
    from aggregated
    inner join first_events
        on aggregated.session_id = first_events.session_id
)

select * from final
