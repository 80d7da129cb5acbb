{{
    config(**incremental_config(
        unique_key='event_id',
        meta={'watermark_column': 'loaded_at'},
        partition_by='event_date',
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
    ))
}}
-- The indexes on client_id and order_id serve the users marts (a client's events, an order's
-- lines). The index on (context_product_id, event_date, event_timestamp, event_id) serves the
-- (product, day) lookups and dim_products' latest values in time order.
-- One row per distinct valid event_id. Among the valid lines that share an event_id the first
-- received wins (received_at, then s3_key, then line_number). Incremental runs read only the
-- lines loaded since the last run (minus the lookback) and insert a line's event unless the
-- table already holds a copy received before it; a copy received earlier than the one kept
-- (a late object) replaces it, so the table is always what a full refresh would build.
-- On Spark the table is partitioned by event_date and a run rewrites whole dates: with its new
-- rows, the rows it keeps of the dates it writes (macros/cross_engine/incremental_config.sql).

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
        {{ cast_to('event_id', 'text') }} as event_id,
        {{ cast_to('event_timestamp', 'timestamptz') }} as event_timestamp,
        {{ cast_to('event_name', 'text') }} as event_name,
        {{ cast_to('user_id', 'text') }} as user_id,
        {{ cast_to('user_login_state', 'text') }} as user_login_state,
        {{ cast_to('identity_source', 'text') }} as identity_source,
        {{ cast_to('client_id', 'text') }} as client_id,
        {{ cast_to('session_id', 'text') }} as session_id,
        {{ cast_to('is_first_visit', 'boolean') }} as is_first_visit,
        {{ cast_to('context_product_id', 'text') }} as context_product_id,
        {{ cast_to('context_product_name', 'text') }} as context_product_name,
        {{ cast_to('context_product_category', 'text') }} as context_product_category,
        {{ cast_to('context_product_brand', 'text') }} as context_product_brand,
        {{ cast_to('context_product_price', 'numeric(12, 2)') }} as context_product_price,
        {{ cast_to('context_product_discount_price', 'numeric(12, 2)') }}
            as context_product_discount_price,
        {{ cast_to('context_product_url_path', 'text') }} as context_product_url_path,
        {{ cast_to('page_url', 'text') }} as page_url,
        {{ cast_to('page_path', 'text') }} as page_path,
        {{ cast_to('page_title', 'text') }} as page_title,
        {{ cast_to('page_referrer', 'text') }} as page_referrer,
        {{ cast_to('product_quantity', 'integer') }} as product_quantity,
        {{ cast_to('order_id', 'text') }} as order_id,
        {{ cast_to('order_currency', 'text') }} as order_currency,
        {{ cast_to('received_at', 'timestamptz') }} as received_at,
        {{ cast_to('loaded_at', 'timestamptz') }} as loaded_at,
        {{ utc_date('event_timestamp') }} as event_date,
        {{ cast_to('s3_key', 'text') }} as s3_key,
        {{ cast_to('line_number', 'integer') }} as line_number,
        -- added with consent (issue 14.1): after the columns the table had before
        {{ cast_to('consent_state', 'text') }} as consent_state,
        -- added with acquisition (issue 11): after the columns the table had before
        {{ cast_to('page_view_id', 'text') }} as page_view_id,
        {{ cast_to('utm_source', 'text') }} as utm_source,
        {{ cast_to('utm_medium', 'text') }} as utm_medium,
        {{ cast_to('utm_campaign', 'text') }} as utm_campaign,
        {{ cast_to('utm_term', 'text') }} as utm_term,
        {{ cast_to('utm_content', 'text') }} as utm_content,
        {{ cast_to('gclid', 'text') }} as gclid,
        {{ cast_to('fbclid', 'text') }} as fbclid,
        {{ cast_to('msclkid', 'text') }} as msclkid,
        {{ cast_to('browser_language', 'text') }} as browser_language,
        {{ cast_to('screen_width', 'integer') }} as screen_width,
        {{ cast_to('screen_height', 'integer') }} as screen_height,
        {{ cast_to('viewport_width', 'integer') }} as viewport_width,
        {{ cast_to('viewport_height', 'integer') }} as viewport_height,
        {{ cast_to('ping_engaged_seconds', 'numeric(12, 3)') }} as ping_engaged_seconds,
        {{ cast_to('ping_max_scroll_depth_pct', 'integer') }} as ping_max_scroll_depth_pct,
        {{ cast_to('user_agent', 'text') }} as user_agent,
        {{ cast_to('device_class', 'text') }} as device_class,
        {{ cast_to('browser_family', 'text') }} as browser_family,
        {{ cast_to('os_family', 'text') }} as os_family,
        {{ cast_to('is_bot', 'boolean') }} as is_bot,
        {{ cast_to('bot_name', 'text') }} as bot_name
    from enriched
)

{{ incremental_result('final') }}
