{{
    config(**incremental_config(
        unique_key='product_id',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['product_id'], 'unique': true},
            {'columns': ['last_loaded_at']},
        ],
    ))
}}
-- One row per product id seen in a valid event's context.product. Each attribute is its
-- latest known value: from the most recent event (event_timestamp, then event_id) that
-- carries one. Incremental runs recompute the products that received events since the last
-- run: each value is looked up with clickstream_events' index on (context_product_id,
-- event_date, event_timestamp, event_id) (event_date is the UTC date of event_timestamp, so
-- ordering by it first changes nothing), so a product with a long history costs a few index
-- probes, not a scan of all its events. Only the events the marts count (macros/consent.sql).

with
{% if is_incremental() %}
    {{- check_built_with_vars() }}
    touched_products as (
        select
            context_product_id as product_id,
            max(loaded_at) as last_loaded_at
        from {{ ref('clickstream_events') }}
        where
            context_product_id is not null
            and {{ counted_in_marts() }}
            and loaded_at >= {{ loaded_at_window_start(this) }}
        group by context_product_id
    ),

    kept as (
        select * from {{ this }}
    ),

    -- The lookups below read clickstream_events itself: a CTE used more than once is
    -- materialized by PostgreSQL, i.e. all the product events would be copied first.

    aggregated as (
        select
            touched_products.product_id,
            latest_name.product_name,
            latest_category.category,
            latest_brand.brand,
            -- price and discount_price travel together: a discount that ended must not linger
            latest_price.price,
            latest_price.discount_price,
            first_seen.first_seen_at,
            last_seen.last_seen_at,
            -- events are only ever added: the newest loaded_at of all of them is the newer of
            -- the one kept and the window's
            greatest(touched_products.last_loaded_at, kept.last_loaded_at) as last_loaded_at
        from touched_products
        left join kept
            on touched_products.product_id = kept.product_id
        {%- for name, column in [
            ('name', 'context_product_name'),
            ('category', 'context_product_category'),
            ('brand', 'context_product_brand'),
        ] %}
            left join lateral (
                select events.{{ column }} as {{ 'product_name' if name == 'name' else name }}
                from {{ ref('clickstream_events') }} as events
                where
                    events.context_product_id = touched_products.product_id
                    and {{ counted_in_marts('events') }}
                    and events.{{ column }} is not null
                order by events.event_date desc, events.event_timestamp desc, events.event_id desc
                limit 1
            ) as latest_{{ name }} on true
        {%- endfor %}
        left join lateral (
            select
                events.context_product_price as price,
                events.context_product_discount_price as discount_price
            from {{ ref('clickstream_events') }} as events
            where
                events.context_product_id = touched_products.product_id
                and {{ counted_in_marts('events') }}
                and events.context_product_price is not null
            order by events.event_date desc, events.event_timestamp desc, events.event_id desc
            limit 1
        ) as latest_price on true
        {#- the product's oldest and newest event, whatever they carry #}
        {%- for seen, direction in [('first', 'asc'), ('last', 'desc')] %}
            left join lateral (
                select events.event_timestamp as {{ seen }}_seen_at
                from {{ ref('clickstream_events') }} as events
                where
                    events.context_product_id = touched_products.product_id
                    and {{ counted_in_marts('events') }}
                order by
                    events.event_date {{ direction }},
                    events.event_timestamp {{ direction }},
                    events.event_id {{ direction }}
                limit 1
            ) as {{ seen }}_seen on true
        {%- endfor %}
    ),
{% else %}
    events as (
        select * from {{ ref('clickstream_events') }}
        where context_product_id is not null and {{ counted_in_marts() }}
    ),

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
        from events
        group by context_product_id
    ),
{% endif %}

final as (
    select
        product_id::{{ type_text() }} as product_id,
        product_name::{{ type_text() }} as product_name,
        category::{{ type_text() }} as category,
        brand::{{ type_text() }} as brand,
        price::numeric(12, 2) as price,
        discount_price::numeric(12, 2) as discount_price,
        first_seen_at,
        last_seen_at,
        last_loaded_at
    from aggregated
)

{{ incremental_result('final') }}
