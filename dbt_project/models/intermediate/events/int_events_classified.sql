{{
    config(**incremental_config(
        unique_key=['s3_key', 'line_number'],
        meta={'watermark_column': 'loaded_at'},
        partition_by='load_day',
        indexes=[
            {'columns': ['s3_key', 'line_number'], 'unique': true},
            {'columns': ['loaded_at']},
        ],
    ))
}}
{{ config(post_hook=["{{ analyze_after_full_build() }}"]) }}
-- Every raw line with the reasons it breaks event contract v1 (an empty array when it is
-- valid) and the contract's defaults applied. Row by row, no dedup. A table, classified once:
-- clickstream_events, invalid_events and the reconciliation all read it (each used to
-- classify every raw line again). Incremental: a run classifies the lines loaded since its
-- own watermark minus the lookback and replaces their rows (delete+insert on the line), so a
-- line re-touched by clickstream/raw_removal.py gets its new loaded_at. The payload is kept
-- for invalid lines only (invalid_events keeps it whole); a valid line's is in the raw table.
-- On Spark the table is partitioned by load day: a run rewrites the days it touches whole.
{%- set product_events = "'product_view', 'add_to_cart', 'remove_from_cart', 'purchase'" %}
{%- set max_id = 128 %}
{%- set max_text = 2048 %}
{%- set max_price = 1000000000 %}
{%- set browser_sizes = ['screen_width', 'screen_height', 'viewport_width', 'viewport_height'] %}

with raw_events as (
    select * from {{ ref('stg_clickstream__raw_events') }}
    {% if is_incremental() -%}
        where loaded_at >= {{ loaded_at_window_start(this) }}
    {%- endif %}
),

-- The reasons in a LATERAL subquery with a LIMIT (of its only row), as in staging: evaluated
-- once per line, however many times the models downstream use them (PostgreSQL would
-- otherwise copy the whole array expression into every use). per_line(): the same on Spark.
checked as (
    {% call per_line('raw_events', 'reasons') %}
        select
            {% call array_without_nulls() %}
                    case
                        when payload_json_type <> 'object' then 'event: must be a JSON object'
                    end,
                    {{ contract_violation('event_id', 'uuid', required=true) }},
                    {{ contract_violation('event_timestamp', 'timestamp', required=true) }},
                    {{ contract_violation('event_name', 'enum', required=true,
                        choices=accepted_event_names()) }},
                    {{ contract_violation('session_id', 'string', required=true,
                        max_length=max_id) }},
                    {{ contract_violation('client_id', 'string', required=true,
                        max_length=max_id) }},
                    {{ contract_violation('user_id', 'string', nullable=true,
                        max_length=max_id) }},
                    {{ contract_violation('user_login_state', 'enum',
                        choices=accepted_login_states()) }},
                    {{ contract_violation('identity_source', 'string', nullable=true,
                        max_length=max_id) }},
                    {{ contract_violation('is_first_visit', 'boolean') }},
                    {{ contract_violation('consent_state', 'enum', nullable=true,
                        choices=accepted_consent_states()) }},
                    case
                        when
                            event_name = 'consent_update'
                            and coalesce(consent_state_json_type, 'null') = 'null'
                            then 'consent_state: is required for consent_update events'
                    end,
                    {{ contract_violation('page', 'object', nullable=true) }},
                    {{ contract_violation('context', 'object', nullable=true) }},
                    {%- for field in ['url', 'path', 'title', 'referrer'] %}
                    {{ contract_violation('page.' ~ field, 'string', nullable=true,
                        max_length=max_text) }},
                    {%- endfor %}
                    {{ contract_violation('context.product', 'object', nullable=true) }},
                    {{ contract_violation('context.order', 'object', nullable=true) }},
                    case
                        when
                            event_name in ({{ product_events }})
                            and coalesce(context_product_json_type, 'null') = 'null'
                            then 'context.product: is required for ' || event_name || ' events'
                    end,
                    {{ contract_violation('context.product.id', 'string', required=true,
                        max_length=max_id) }},
                    {%- for field in ['name', 'category', 'brand', 'url_path'] %}
                    {{ contract_violation('context.product.' ~ field, 'string',
                        nullable=true, max_length=max_text) }},
                    {%- endfor %}
                    {%- for field in ['price', 'discount_price'] %}
                    {{ contract_violation('context.product.' ~ field, 'number',
                        nullable=true, minimum=0, maximum=max_price) }},
                    {%- endfor %}
                    {{ contract_violation('context.product.quantity', 'integer',
                        column='product_quantity', minimum=1, maximum=10000) }},
                    {{ contract_violation('context.order.order_id', 'string',
                        column='order_id', nullable=true, max_length=max_id) }},
                    {{ contract_violation('context.order.currency', 'currency',
                        column='order_currency', nullable=true) }},
                    {{ contract_violation('page.page_view_id', 'string', column='page_view_id',
                        nullable=true, max_length=max_id) }},
                    case
                        when
                            event_name = 'page_ping'
                            and coalesce(page_page_view_id_json_type, 'null') = 'null'
                            then 'page.page_view_id: is required for page_ping events'
                    end,
                    {{ contract_violation('page.utm', 'object', nullable=true) }},
                    {{ contract_violation('page.click_ids', 'object', nullable=true) }},
                    {%- for field in ['source', 'medium', 'campaign', 'term', 'content'] %}
                    {{ contract_violation('page.utm.' ~ field, 'string', nullable=true,
                        max_length=256) }},
                    {%- endfor %}
                    {%- for field in ['gclid', 'fbclid', 'msclkid'] %}
                    {{ contract_violation('page.click_ids.' ~ field, 'string', nullable=true,
                        max_length=256) }},
                    {%- endfor %}
                    {{ contract_violation('context.browser', 'object', nullable=true) }},
                    {{ contract_violation('context.ping', 'object', nullable=true) }},
                    {{ contract_violation('context.browser.language', 'string', nullable=true,
                        max_length=35) }},
                    {%- for field in browser_sizes %}
                    {{ contract_violation('context.browser.' ~ field, 'integer', nullable=true,
                        minimum=0, maximum=100000) }},
                    {%- endfor %}
                    {{ contract_violation('context.ping.engaged_seconds', 'number',
                        nullable=true, minimum=0, maximum=86400) }},
                    {{ contract_violation('context.ping.max_scroll_depth_pct', 'integer',
                        nullable=true, minimum=0, maximum=100) }},
                    case
                        when received_at is null
                            then 'ingest.received_at: missing or not an RFC 3339 timestamp'
                    end,
                    case
                        when event_timestamp > received_at + interval '1 hour'
                            then 'event_timestamp: more than 1 hour after ingest.received_at'
                    end
            {% endcall %} as invalid_reasons
            {{- per_line_columns_from('raw_events') }}
    {% endcall %}
),

classified as (
    select
        ----------  lineage
        s3_key,
        line_number,
        loaded_at,
        load_id,
        case when cardinality(invalid_reasons) > 0 then payload end as payload,

        ----------  classification
        -- JSON (jsonb; a string on Spark) rather than an array, so that dbt unit tests can
        -- build fixtures of this model
        {{ json_array_of('invalid_reasons') }} as invalid_reasons,
        cardinality(invalid_reasons) = 0 as is_valid,

        ----------  the event, with the contract's defaults
        event_id,
        event_timestamp,
        event_name,
        user_id,
        coalesce(
            user_login_state,
            case when coalesce(user_id, '') <> '' then 'logged_in' else 'guest' end
        ) as user_login_state,
        identity_source,
        client_id,
        session_id,
        coalesce(is_first_visit, false) as is_first_visit,
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
        case
            when context_product_id is not null then coalesce(product_quantity, 1)
        end as product_quantity,
        order_id,
        order_currency,
        received_at,
        user_agent,
        page_view_id,
        page_utm_source as utm_source,
        page_utm_medium as utm_medium,
        page_utm_campaign as utm_campaign,
        page_utm_term as utm_term,
        page_utm_content as utm_content,
        page_click_ids_gclid as gclid,
        page_click_ids_fbclid as fbclid,
        page_click_ids_msclkid as msclkid,
        context_browser_language as browser_language,
        context_browser_screen_width as screen_width,
        context_browser_screen_height as screen_height,
        context_browser_viewport_width as viewport_width,
        context_browser_viewport_height as viewport_height,
        context_ping_engaged_seconds as ping_engaged_seconds,
        context_ping_max_scroll_depth_pct as ping_max_scroll_depth_pct
        -- Spark only: the day of loaded_at, its partition (macros/cross_engine/incremental.sql)
        {{ spark_partition_date('loaded_at', 'load_day') }}
    from checked
)

{{ incremental_result('classified') }}
