-- The 20 most viewed products over the whole history, with carts, purchases and revenue.
with performance as (
    select * from {{ ref('fct_product_performance_daily') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

totals as (
    select
        product_id,
        sum(views) as views,
        sum(add_to_carts) as add_to_carts,
        sum(purchases) as purchases,
        sum(revenue) as revenue
    from performance
    group by product_id
),

final as (
    select
        totals.product_id,
        products.product_name,
        products.category,
        products.brand,
        totals.views,
        totals.add_to_carts,
        totals.purchases,
        totals.revenue
    from totals
    inner join products
        on totals.product_id = products.product_id
)

select * from final
order by views desc, product_id asc
limit 20
