{{
    config(**incremental_config(
        unique_key=['event_date', 'product_id'],
        partition_by='event_date',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['event_date', 'product_id'], 'unique': true},
            {'columns': ['product_id']},
        ],
    ))
}}
-- One row per (event_date, product_id): event counts by step, units and revenue on purchases,
-- and the product's latest name, category and brand from dim_products. Incremental runs
-- recompute the (day, product) pairs that received events since the last run, and the rows
-- of those products whose latest attributes changed.
-- Revenue is in the reporting currency (var reporting_currency): a purchase in another
-- currency is counted in purchases and units but not in revenue, and reported in
-- purchases_in_other_currencies (never summed silently); one with no currency is taken to be
-- in the reporting currency.

with events as {{ not_materialized() }} (
    select
        *,
        -- an event with no currency is assumed to be in the reporting currency
        coalesce(order_currency, {{ reporting_currency() }}) = {{ reporting_currency() }}
            as is_in_reporting_currency
    from {{ ref('clickstream_events') }}
    where context_product_id is not null and {{ counted_in_marts() }}
),

products as (
    select * from {{ ref('dim_products') }}
),

{% if is_incremental() %}
    {{- check_reporting_currency_unchanged() }}
    {{- check_built_with_vars() }}
    new_pairs as (
        select distinct
            event_date,
            context_product_id as product_id
        from events
        where loaded_at >= {{ loaded_at_window_start(this) }}
    ),

    renamed_pairs as (
        select
            kept.event_date,
            kept.product_id
        from {{ this }} as kept
        inner join products
            on kept.product_id = products.product_id
        where
            kept.product_id in (select new_pairs.product_id from new_pairs)
            and (kept.product_name, kept.category, kept.brand)
            is distinct from (products.product_name, products.category, products.brand)
    ),

    touched_pairs as (
        select * from new_pairs
        union
        select * from renamed_pairs
    ),

    pair_events as (
        select events.*
        from events
        inner join touched_pairs
            on
                events.event_date = touched_pairs.event_date
                and events.context_product_id = touched_pairs.product_id
    ),
{% else %}
    pair_events as (
        select * from events
    ),
{% endif %}

aggregated as (
    select
        event_date,
        context_product_id as product_id,
        {{ count_events('product_view') }} as views,
        {{ count_events('add_to_cart') }} as add_to_carts,
        {{ count_events('remove_from_cart') }} as removes,
        {{ count_events('checkout') }} as checkouts,
        {{ count_events('purchase') }} as purchases,
        coalesce(sum(product_quantity) filter (where event_name = 'purchase'), 0) as units,
        coalesce(
            sum(
                product_quantity
                * coalesce(context_product_discount_price, context_product_price)
            ) filter (where event_name = 'purchase' and is_in_reporting_currency),
            0
        ) as revenue,
        count(*) filter (
            where event_name = 'purchase' and not is_in_reporting_currency
        ) as purchases_in_other_currencies,
        max(loaded_at) as last_loaded_at
    from pair_events
    group by event_date, context_product_id
),

final as (
    select
        aggregated.event_date,
        aggregated.product_id::{{ type_text() }} as product_id,
        products.product_name,
        products.category,
        products.brand,
        aggregated.views::integer as views,
        aggregated.add_to_carts::integer as add_to_carts,
        aggregated.removes::integer as removes,
        aggregated.checkouts::integer as checkouts,
        aggregated.purchases::integer as purchases,
        aggregated.units::integer as units,
        aggregated.revenue::numeric(14, 2) as revenue,
        {{ reporting_currency() }}::{{ type_text() }} as currency,
        aggregated.purchases_in_other_currencies::integer as purchases_in_other_currencies,
        {{ rate('aggregated.add_to_carts', 'aggregated.views') }} as view_to_cart_rate,
        {{ rate('aggregated.purchases', 'aggregated.add_to_carts') }} as cart_to_purchase_rate,
        aggregated.last_loaded_at
    from aggregated
    left join products
        on aggregated.product_id = products.product_id
)

{{ incremental_result('final') }}
