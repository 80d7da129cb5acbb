{{
    config(**incremental_config(
        unique_key='session_date',
        partition_by='session_date',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only', 'reporting_currency'],
        },
        indexes=[
            {'columns': ['session_date']},
            {'columns': ['session_date', 'channel']},
        ],
        empty_rows='sessions = 0',
    ))
}}
-- One row per (session_date, channel, utm_source, utm_medium, utm_campaign, entry_page_path,
-- device_class, browser_family) of fct_sessions, a null dimension as '(not set)' so that the
-- grain is a real key: the Acquisition page's mart. Incremental runs recompute whole dates,
-- as fct_funnel_daily does: the dates of every event of the sessions touched since the last
-- run, so a session whose start moves to another day updates both (a date left empty comes
-- out with zero sessions and the post-hook deletes it).

-- depends_on: {{ ref('clickstream_events') }}

with sessions as {{ not_materialized() }} (
    select * from {{ ref('fct_sessions') }}
),

{% if is_incremental() %}
    {{- check_built_with_vars(
        unrecorded={
            'consented_data_only': false,
            'reporting_currency': var('reporting_currency'),
        }
    ) }}
    {{ touched_session_dates() }},

    day_sessions as (
        select
            touched_dates.session_date,
            sessions.session_id,
            sessions.channel,
            sessions.utm_source,
            sessions.utm_medium,
            sessions.utm_campaign,
            sessions.entry_page_path,
            sessions.device_class,
            sessions.browser_family,
            sessions.page_views,
            sessions.product_views,
            sessions.add_to_carts,
            sessions.checkouts,
            sessions.purchases,
            sessions.is_bounce,
            sessions.engaged_seconds,
            sessions.orders,
            sessions.revenue,
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

dimensions as (
    select
        session_date,
        coalesce(channel, '(not set)') as channel,
        coalesce(utm_source, '(not set)') as utm_source,
        coalesce(utm_medium, '(not set)') as utm_medium,
        coalesce(utm_campaign, '(not set)') as utm_campaign,
        coalesce(entry_page_path, '(not set)') as entry_page_path,
        coalesce(device_class, '(not set)') as device_class,
        coalesce(browser_family, '(not set)') as browser_family,
        session_id,
        page_views,
        product_views,
        add_to_carts,
        checkouts,
        purchases,
        is_bounce,
        engaged_seconds,
        orders,
        revenue,
        last_loaded_at
    from day_sessions
),

final as (
    select
        session_date,
        channel::{{ type_text() }} as channel,
        utm_source::{{ type_text() }} as utm_source,
        utm_medium::{{ type_text() }} as utm_medium,
        utm_campaign::{{ type_text() }} as utm_campaign,
        entry_page_path::{{ type_text() }} as entry_page_path,
        device_class::{{ type_text() }} as device_class,
        browser_family::{{ type_text() }} as browser_family,
        count(session_id)::integer as sessions,
        (count(*) filter (where page_views > 0))::integer as sessions_with_page_view,
        (count(*) filter (where product_views > 0))::integer as sessions_with_product_view,
        (count(*) filter (where add_to_carts > 0))::integer as sessions_with_add_to_cart,
        (count(*) filter (where checkouts > 0))::integer as sessions_with_checkout,
        (count(*) filter (where purchases > 0))::integer as sessions_with_purchase,
        (count(*) filter (where is_bounce))::integer as bounces,
        coalesce(sum(engaged_seconds), 0)::numeric(16, 3) as engaged_seconds,
        coalesce(sum(orders), 0)::integer as orders,
        coalesce(sum(revenue), 0)::numeric(16, 2) as revenue,
        -- what `revenue` is in, as fct_product_performance_daily says it (the dashboards show it)
        {{ reporting_currency() }}::{{ type_text() }} as currency,
        max(last_loaded_at) as last_loaded_at
    from dimensions
    group by
        session_date, channel, utm_source, utm_medium, utm_campaign, entry_page_path,
        device_class, browser_family
)

{{ incremental_result('final') }}
