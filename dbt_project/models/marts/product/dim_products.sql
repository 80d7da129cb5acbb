{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='product_id',
        on_schema_change='fail',
        indexes=[
            {'columns': ['product_id'], 'unique': true},
            {'columns': ['last_loaded_at']},
        ],
    )
}}
-- One row per product id seen in a valid event's context.product. Each attribute is its
-- latest known value: from the most recent event (event_timestamp, then event_id) that
-- carries one. Incremental runs recompute the products that received events since the last
-- run, from all their events.

with events as (
    select * from {{ ref('clickstream_events') }}
    where context_product_id is not null
),

{% if is_incremental() %}
    touched_products as (
        select distinct context_product_id
        from events
        where loaded_at >= {{ loaded_at_window_start(this, 'last_loaded_at') }}
    ),

    product_events as (
        select events.*
        from events
        inner join touched_products
            on events.context_product_id = touched_products.context_product_id
    ),
{% else %}
    product_events as (
        select * from events
    ),
{% endif %}

aggregated as (
    select
        context_product_id as product_id,
        {{ latest_value('context_product_name') }} as product_name,
        {{ latest_value('context_product_category') }} as category,
        {{ latest_value('context_product_brand') }} as brand,
        -- price and discount_price travel together: a discount that ended must not linger
        {{ latest_value('context_product_price') }} as price,
        {{ latest_value('context_product_discount_price', 'context_product_price') }}
            as discount_price,
        min(event_timestamp) as first_seen_at,
        max(event_timestamp) as last_seen_at,
        max(loaded_at) as last_loaded_at
    from product_events
    group by context_product_id
),

final as (
    select
        product_id::text as product_id,
        product_name::text as product_name,
        category::text as category,
        brand::text as brand,
        price::numeric(12, 2) as price,
        discount_price::numeric(12, 2) as discount_price,
        first_seen_at,
        last_seen_at,
        last_loaded_at
    from aggregated
)

select * from final
