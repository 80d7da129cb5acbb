{{
    config(**incremental_config(
        unique_key='session_date',
        partition_by='session_date',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        empty_rows='sessions = 0',
    ))
}}
-- One row per session_date (UTC date of the session's start): sessions that contain at least
-- one event of each step, in any order, and the step conversion rates. Incremental runs
-- recompute the dates of every event of the sessions touched since the last run: a late event
-- that moves a session's start to another day updates both days (a day left empty is deleted).

-- depends_on: {{ ref('clickstream_events') }}

with sessions as {{ not_materialized() }} (
    select * from {{ ref('fct_sessions') }}
),

{% if is_incremental() %}
    {{- check_built_with_vars() }}
    {{ touched_session_dates() }},

    -- A touched date left with no session (its only session now starts on another day)
    -- comes out with zero sessions, replacing its old row; the post-hook then deletes it.
    day_sessions as (
        select
            touched_dates.session_date,
            sessions.session_id,
            sessions.page_views,
            sessions.product_views,
            sessions.add_to_carts,
            sessions.checkouts,
            sessions.purchases,
            sessions.last_loaded_at
        from touched_dates
        left join sessions
            on touched_dates.session_date = sessions.session_date
    ),
{% else %}
    day_sessions as (
        select * from sessions
    ),
{% endif %}

counted as (
    select
        session_date,
        count(session_id) as sessions,
        count(*) filter (where page_views > 0) as sessions_with_page_view,
        count(*) filter (where product_views > 0) as sessions_with_product_view,
        count(*) filter (where add_to_carts > 0) as sessions_with_add_to_cart,
        count(*) filter (where checkouts > 0) as sessions_with_checkout,
        count(*) filter (where purchases > 0) as sessions_with_purchase,
        max(last_loaded_at) as last_loaded_at
    from day_sessions
    group by session_date
),

final as (
    select
        session_date,
        sessions::integer as sessions,
        sessions_with_page_view::integer as sessions_with_page_view,
        sessions_with_product_view::integer as sessions_with_product_view,
        sessions_with_add_to_cart::integer as sessions_with_add_to_cart,
        sessions_with_checkout::integer as sessions_with_checkout,
        sessions_with_purchase::integer as sessions_with_purchase,
        {{ rate('sessions_with_product_view', 'sessions') }} as product_view_rate,
        {{ rate('sessions_with_add_to_cart', 'sessions_with_product_view') }}
            as add_to_cart_rate,
        {{ rate('sessions_with_checkout', 'sessions_with_add_to_cart') }} as checkout_rate,
        {{ rate('sessions_with_purchase', 'sessions_with_checkout') }} as purchase_rate,
        {{ rate('sessions_with_purchase', 'sessions') }} as session_conversion_rate,
        last_loaded_at
    from counted
)

{{ incremental_result('final') }}
