{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
        meta={'watermark_column': 'loaded_at'},
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['loaded_at']},
            {'columns': ['session_id']},
            {'columns': ['event_timestamp']},
            {'columns': ['event_date']},
            {'columns': ['context_product_id', 'event_date', 'event_timestamp', 'event_id']},
            {'columns': ['client_id']},
            {'columns': ['order_id']},
        ],
    )
}}
-- The indexes on client_id and order_id serve the users marts (a client's events, an order's
-- lines). The index on (context_product_id, event_date, event_timestamp, event_id) serves the
-- (product, day) lookups and dim_products' latest values in time order.
-- One row per distinct valid event_id. Among the valid lines that share an event_id the first
-- received wins (received_at, then s3_key, then line_number). Incremental runs read only the
-- lines loaded since the last run (minus the lookback) and insert a line's event unless the
-- table already holds a copy received before it; a copy received earlier than the one kept
-- (a late object) replaces it, so the table is always what a full refresh would build.

-- Only the columns the table keeps: the raw payload would make the dedup sort ten times wider.
with classified as (
    select
        -- UUIDs are compared case-insensitively: the lowercase form is the key
        lower(event_id) as event_id,
        event_timestamp,
        event_name,
        user_id,
        user_login_state,
        identity_source,
        client_id,
        session_id,
        is_first_visit,
        consent_state,
        context_product_id,
        context_product_name,
        context_product_category,
        context_product_brand,
        context_product_price,
        context_product_discount_price,
        context_product_url_path,
        page_url,
        page_path,
        page_title,
        page_referrer,
        product_quantity,
        order_id,
        order_currency,
        received_at,
        loaded_at,
        s3_key,
        line_number,
        is_valid,
        page_view_id,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_term,
        utm_content,
        gclid,
        fbclid,
        msclkid,
        browser_language,
        screen_width,
        screen_height,
        viewport_width,
        viewport_height,
        ping_engaged_seconds,
        ping_max_scroll_depth_pct,
        user_agent
    from {{ ref('int_events_classified') }}
),

{% if is_incremental() %}
    new_valid_lines as (
        select * from classified
        where is_valid and loaded_at >= {{ loaded_at_window_start(this) }}
    ),
{% else %}
    new_valid_lines as (
        select * from classified
        where is_valid
    ),
{% endif %}

ranked as (
    select
        *,
        row_number() over (
            partition by event_id
            order by received_at, s3_key, line_number
        ) as copy_number
    from new_valid_lines
),

first_copies as (
    select * from ranked
    where copy_number = 1
),

{% if is_incremental() %}
    first_copies_not_kept_yet as (
        select first_copies.*
        from first_copies
        left join {{ this }} as kept
            on first_copies.event_id = kept.event_id
        where
            kept.event_id is null
            or (first_copies.received_at, first_copies.s3_key, first_copies.line_number)
            < (kept.received_at, kept.s3_key, kept.line_number)
    ),
{% else %}
    first_copies_not_kept_yet as (
        select * from first_copies
    ),
{% endif %}

-- The loader parses every user agent it loads into staging.user_agents in the same
-- transaction as the lines (extract_load/user_agents.py), so every line's agent is there.
user_agents as (
    select * from {{ source('clickstream', 'user_agents') }}
),

-- an event without a user agent (or one not parsed) is a person's on a device of unknown
-- class: never a bot
enriched as (
    select
        first_copies_not_kept_yet.*,
        coalesce(user_agents.device_class, 'other') as device_class,
        user_agents.browser_family,
        user_agents.os_family,
        coalesce(user_agents.is_bot, false) as is_bot,
        user_agents.bot_name
    from first_copies_not_kept_yet
    left join user_agents
        on first_copies_not_kept_yet.user_agent = user_agents.user_agent
),

final as (
    select
        event_id::text as event_id,
        event_timestamp::timestamptz as event_timestamp,
        event_name::text as event_name,
        user_id::text as user_id,
        user_login_state::text as user_login_state,
        identity_source::text as identity_source,
        client_id::text as client_id,
        session_id::text as session_id,
        is_first_visit::boolean as is_first_visit,
        context_product_id::text as context_product_id,
        context_product_name::text as context_product_name,
        context_product_category::text as context_product_category,
        context_product_brand::text as context_product_brand,
        context_product_price::numeric(12, 2) as context_product_price,
        context_product_discount_price::numeric(12, 2) as context_product_discount_price,
        context_product_url_path::text as context_product_url_path,
        page_url::text as page_url,
        page_path::text as page_path,
        page_title::text as page_title,
        page_referrer::text as page_referrer,
        product_quantity::integer as product_quantity,
        order_id::text as order_id,
        order_currency::text as order_currency,
        received_at::timestamptz as received_at,
        loaded_at::timestamptz as loaded_at,
        (event_timestamp at time zone 'UTC')::date as event_date,
        s3_key::text as s3_key,
        line_number::integer as line_number,
        -- added with consent (issue 14.1): after the columns the table had before
        consent_state::text as consent_state,
        -- added with acquisition (issue 11): after the columns the table had before
        page_view_id::text as page_view_id,
        utm_source::text as utm_source,
        utm_medium::text as utm_medium,
        utm_campaign::text as utm_campaign,
        utm_term::text as utm_term,
        utm_content::text as utm_content,
        gclid::text as gclid,
        fbclid::text as fbclid,
        msclkid::text as msclkid,
        browser_language::text as browser_language,
        screen_width::integer as screen_width,
        screen_height::integer as screen_height,
        viewport_width::integer as viewport_width,
        viewport_height::integer as viewport_height,
        ping_engaged_seconds::numeric(12, 3) as ping_engaged_seconds,
        ping_max_scroll_depth_pct::integer as ping_max_scroll_depth_pct,
        user_agent::text as user_agent,
        device_class::text as device_class,
        browser_family::text as browser_family,
        os_family::text as os_family,
        is_bot::boolean as is_bot,
        bot_name::text as bot_name
    from enriched
)

select * from final
