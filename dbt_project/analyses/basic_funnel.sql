-- The funnel over the whole history: sessions reaching each step (containing at least one such
-- event) and the share of all sessions.
with funnel as (
    select * from {{ ref('fct_funnel_daily') }}
),

totals as (
    select
        sum(sessions) as sessions,
        sum(sessions_with_page_view) as page_view,
        sum(sessions_with_product_view) as product_view,
        sum(sessions_with_add_to_cart) as add_to_cart,
        sum(sessions_with_checkout) as checkout,
        sum(sessions_with_purchase) as purchase
    from funnel
),

steps as (
    select
        1 as step_number,
        'sessions' as step,
        sessions
    from totals
    union all
    select
        2 as step_number,
        'page_view' as step,
        page_view
    from totals
    union all
    select
        3 as step_number,
        'product_view' as step,
        product_view
    from totals
    union all
    select
        4 as step_number,
        'add_to_cart' as step,
        add_to_cart
    from totals
    union all
    select
        5 as step_number,
        'checkout' as step,
        checkout
    from totals
    union all
    select
        6 as step_number,
        'purchase' as step,
        purchase
    from totals
),

final as (
    select
        step_number,
        step,
        sessions,
        round(100.0 * sessions / nullif(first_value(sessions) over (order by step_number), 0), 2)
            as percent_of_sessions
    from steps
)

select * from final
order by step_number
