{{
    config(**incremental_config(
        unique_key='session_id',
        partition_by='session_date',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only', 'reporting_currency'],
        },
        indexes=[
            {'columns': ['session_id'], 'unique': true},
            {'columns': ['session_date']},
            {'columns': ['last_loaded_at']},
        ],
    ))
}}
-- One row per session_id. Incremental runs recompute, from all their events, only the sessions
-- that received events since the last run, so a late event updates its session.
-- Only the events the marts count (macros/consent.sql): never consent_update, page_ping or a
-- bot's, and with var consented_data_only no denied event; a session made of nothing else
-- has no row. Its page pings (counted_pings) only add engaged time.
-- Attribution (issue 11): the session's first counted event's UTM, click ids and referrer
-- give its channel (macros/channels.sql); its device is that event's.

with events as {{ not_materialized() }} (
    select
        *,
        event_name = 'page_ping' as is_ping
    from {{ ref('clickstream_events') }}
    where ({{ counted_in_marts() }}) or ({{ counted_pings() }})
),

{% if is_incremental() %}
    {{- check_built_with_vars(
        unrecorded={
            'consented_data_only': false,
            'reporting_currency': var('reporting_currency'),
        }
    ) }}
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

counted_events as (
    select
        *,
        -- an event with no currency is assumed to be in the reporting currency
        coalesce(order_currency, {{ reporting_currency() }}) = {{ reporting_currency() }}
            as is_in_reporting_currency
    from session_events
    where not is_ping
),

ordered as (
    select
        *,
        row_number() over (
            partition by session_id
            order by event_timestamp, event_id
        ) as position_in_session
    from counted_events
),

first_events as (
    select
        session_id,
        client_id,
        page_path as entry_page_path,
        page_referrer as referrer,
        {{ referrer_host('page_referrer') }} as referrer_host,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_term,
        utm_content,
        gclid,
        fbclid,
        msclkid,
        device_class,
        browser_family,
        os_family
    from ordered
    where position_in_session = 1
),

attributed as (
    select
        first_events.*,
        {{ channel_source_category('source') }} as source_category,
        {{ channel_source_category('referrer') }} as referrer_category
    from first_events
    {{ join_channel_source_category(normalized_source('first_events.utm_source'), 'source') }}
    {{ join_channel_source_category('first_events.referrer_host', 'referrer') }}
),

aggregated as (
    select
        session_id,
        {{ latest_value('user_id') }} as user_id,
        {{ latest_value('page_path') }} as exit_page_path,
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
        count(distinct order_id) filter (where event_name = 'purchase') as orders,
        coalesce(
            sum(
                product_quantity
                * coalesce(context_product_discount_price, context_product_price)
            ) filter (where event_name = 'purchase' and is_in_reporting_currency),
            0
        ) as revenue
    from counted_events
    group by session_id
),

-- pings included: a ping loaded later recomputes its session
engagement as (
    select
        session_id,
        coalesce(sum(ping_engaged_seconds) filter (where is_ping), 0) as engaged_seconds,
        max(loaded_at) as last_loaded_at
    from session_events
    group by session_id
),

final as (
    select
        aggregated.session_id::{{ type_text() }} as session_id,
        attributed.client_id::{{ type_text() }} as client_id,
        aggregated.user_id::{{ type_text() }} as user_id,
        aggregated.session_started_at,
        aggregated.session_ended_at,
        {{ utc_date('aggregated.session_started_at') }} as session_date,
        {{ seconds_between('aggregated.session_ended_at', 'aggregated.session_started_at') }}
        ::{{ type_numeric() }} as session_duration_seconds,
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
        attributed.entry_page_path::{{ type_text() }} as entry_page_path,
        attributed.referrer::{{ type_text() }} as referrer,
        aggregated.events = 1 as is_bounce,
        aggregated.is_first_visit,
        engagement.last_loaded_at,
        -- added with acquisition (issue 11): after the columns the table had before
        {{ channel_group(
            'attributed.utm_source', 'attributed.utm_medium', 'attributed.gclid',
            'attributed.fbclid', 'attributed.msclkid', 'attributed.referrer_host',
            'attributed.source_category', 'attributed.referrer_category'
        ) }}::{{ type_text() }} as channel,
        attributed.utm_source::{{ type_text() }} as utm_source,
        attributed.utm_medium::{{ type_text() }} as utm_medium,
        attributed.utm_campaign::{{ type_text() }} as utm_campaign,
        attributed.utm_term::{{ type_text() }} as utm_term,
        attributed.utm_content::{{ type_text() }} as utm_content,
        attributed.referrer_host::{{ type_text() }} as referrer_host,
        aggregated.exit_page_path::{{ type_text() }} as exit_page_path,
        attributed.device_class::{{ type_text() }} as device_class,
        attributed.browser_family::{{ type_text() }} as browser_family,
        attributed.os_family::{{ type_text() }} as os_family,
        engagement.engaged_seconds::{{ type_numeric() }} as engaged_seconds,
        aggregated.orders::integer as orders,
        aggregated.revenue::numeric(14, 2) as revenue
    from aggregated
    inner join attributed
        on aggregated.session_id = attributed.session_id
    inner join engagement
        on aggregated.session_id = engagement.session_id
)

{{ incremental_result('final') }}
