{{
    config(**incremental_config(
        unique_key='order_id',
        partition_by='order_date',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only', 'reporting_currency'],
        },
        indexes=[
            {'columns': ['order_id'], 'unique': true},
            {'columns': ['user_key']},
            {'columns': ['order_date']},
            {'columns': ['last_loaded_at']},
        ],
    ))
}}
-- One row per order: the purchase events that share an order_id; purchases without one make
-- one order per session, 'session:' || session_id. The order's session, client and time are
-- its first purchase event's (event_timestamp, then event_id), its user that client's
-- (int_user_identity). Revenue as in fct_product_performance_daily (quantity x
-- coalesce(discount_price, price)), in the order's currency: the first purchase's currency,
-- the reporting currency when it has none; lines in another currency than the order's are
-- counted in items and units, never added to its revenue. Channel and device class are its
-- session's (fct_sessions).
-- Incremental runs recompute the orders with purchases in the sessions that received events
-- since the last run, and those of the clients whose user changed (macros/identity.sql).

with events as {{ not_materialized() }} (
    select * from {{ ref('clickstream_events') }}
    where {{ counted_in_marts() }}
),

purchases as {{ not_materialized() }} (
    select
        *,
        coalesce(order_id, 'session:' || session_id) as order_key,
        coalesce(order_currency, {{ reporting_currency() }}) as line_currency
    from events
    where event_name = 'purchase'
),

identity as {{ not_materialized() }} (
    select * from {{ ref('int_user_identity') }}
),

sessions as {{ not_materialized() }} (
    select * from {{ ref('fct_sessions') }}
),

{% if is_incremental() %}
    {{- check_built_with_vars(unrecorded={
        'consented_data_only': false, 'reporting_currency': var('reporting_currency')
    }) }}
    {%- set window_start = loaded_at_window_start(this) %}
    {{ user_touch_ctes(window_start) }}

    -- the sessions fct_sessions recomputed (a page ping counts there: its watermark, its
    -- engaged time), so that the order's channel, device and watermark follow its session
    window_sessions as (
        select session_id
        from sessions
        where last_loaded_at >= {{ window_start }}
    ),

    touched_orders as (
        select
            purchases.order_id,
            purchases.session_id
        from purchases
        inner join window_sessions
            on purchases.session_id = window_sessions.session_id
        union
        select
            purchases.order_id,
            purchases.session_id
        from purchases
        inner join rekeyed_clients
            on purchases.client_id = rekeyed_clients.client_id
    ),

    -- every line of those orders: by order_id, or by session for purchases without one (two
    -- selects, not one with an `or`, so that each can use its index)
    order_lines as (
        select purchases.*
        from purchases
        where purchases.order_id in (select touched_orders.order_id from touched_orders)
        union all
        select purchases.*
        from purchases
        where
            purchases.order_id is null
            and purchases.session_id in (
                select touched_orders.session_id
                from touched_orders
                where touched_orders.order_id is null
            )
    ),
{% else %}
    order_lines as (
        select * from purchases
    ),
{% endif %}

ordered as (
    select
        *,
        row_number() over (
            partition by order_key
            order by event_timestamp, event_id
        ) as position_in_order
    from order_lines
),

first_lines as (
    select
        order_key,
        session_id,
        client_id,
        event_timestamp as ordered_at,
        line_currency as currency
    from ordered
    where position_in_order = 1
),

aggregated as (
    select
        ordered.order_key,
        count(distinct ordered.context_product_id) as items,
        sum(ordered.product_quantity) as units,
        coalesce(
            sum(
                ordered.product_quantity
                * coalesce(ordered.context_product_discount_price, ordered.context_product_price)
            ) filter (where ordered.line_currency = first_lines.currency),
            0
        ) as revenue,
        max(ordered.loaded_at) as last_loaded_at
    from ordered
    inner join first_lines
        on ordered.order_key = first_lines.order_key
    group by ordered.order_key
),

final as (
    select
        first_lines.order_key::{{ type_text() }} as order_id,
        first_lines.session_id::{{ type_text() }} as session_id,
        identity.user_key,
        first_lines.client_id::{{ type_text() }} as client_id,
        identity.user_id,
        first_lines.ordered_at,
        {{ utc_date('first_lines.ordered_at') }} as order_date,
        aggregated.items::integer as items,
        aggregated.units::integer as units,
        aggregated.revenue::numeric(14, 2) as revenue,
        first_lines.currency::{{ type_text() }} as currency,
        sessions.channel,
        sessions.device_class,
        -- the session's watermark too: the order is recomputed whenever its session is
        greatest(aggregated.last_loaded_at, sessions.last_loaded_at) as last_loaded_at
    from first_lines
    inner join aggregated
        on first_lines.order_key = aggregated.order_key
    inner join identity
        on first_lines.client_id = identity.client_id
    left join sessions
        on first_lines.session_id = sessions.session_id
)

{{ incremental_result('final') }}
