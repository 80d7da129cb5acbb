-- One row per raw line loaded by extract_load, its jsonb payload flattened and typed.
-- Every cast is safe (macros/safe_casts.sql): a value of the wrong type becomes null here and
-- int_events_classified says why the event is invalid. Nothing is filtered out.
--
-- Each field is read from the payload once per line: `texts` takes its text and its JSON
-- type, then the casts read those. Both levels are subqueries with a LIMIT (of their only
-- row), which PostgreSQL evaluates once per line and never inlines: without that fence it
-- copies an expression into every place that uses it, and the contract checks use each field
-- several times (classification took twice as long). One LATERAL subquery per line, with the
-- payload its only parameter: given a second one, parameterised by the first one's columns,
-- the planner tried to cache its results (Memoize), which only cost time. A filter on
-- loaded_at still reaches the raw table.
--
-- Engine differences live in macros: `payload_document` is the payload as a JSON document
-- (PostgreSQL's jsonb column itself; on Spark the line's text parsed once into a VARIANT:
-- macros/safe_casts.sql), and per_line() (macros/cross_engine/per_line.sql) is the LATERAL
-- subquery on PostgreSQL, a chain of derived tables on Spark, whose optimizer would inline a
-- lateral subquery's expressions into every use.

with source as (
    select
        raw_events.*,
        {{ json_document('raw_events.payload') }} as payload_document
    from {{ source('clickstream', 'raw_events') }} as raw_events
),

-- noqa: disable=LT02
-- (sqlfluff cannot map the indentation of a call block's end back to its source)
fields_typed as (
    {% call per_line('source', 'json_fields') %}
        select
            texts.*,
            {{ safe_timestamptz('texts.event_timestamp_text') }} as event_timestamp,
            {{ safe_timestamptz('texts.ingest_received_at_text') }} as received_at,
            {{ json_boolean('texts.is_first_visit') }} as is_first_visit,
            {{ json_number('texts.context_product_price') }} as context_product_price,
            {{ json_number('texts.context_product_discount_price') }}
                as context_product_discount_price,
            {{ json_integer('texts.context_product_quantity', 'context.product.quantity') }} as product_quantity,
            {{ json_integer('texts.context_browser_screen_width', 'context.browser.screen_width') }}
                as context_browser_screen_width,
            {{ json_integer('texts.context_browser_screen_height', 'context.browser.screen_height') }}
                as context_browser_screen_height,
            {{ json_integer('texts.context_browser_viewport_width', 'context.browser.viewport_width') }}
                as context_browser_viewport_width,
            {{ json_integer('texts.context_browser_viewport_height', 'context.browser.viewport_height') }}
                as context_browser_viewport_height,
            {{ json_number('texts.context_ping_engaged_seconds') }}
                as context_ping_engaged_seconds,
            {{ json_integer('texts.context_ping_max_scroll_depth_pct', 'context.ping.max_scroll_depth_pct') }}
                as context_ping_max_scroll_depth_pct
        from (
            select
                {{ json_typeof('source.payload_document') }} as payload_json_type,
                {{ json_type('source.payload_document', 'page') }},
                {{ json_type('source.payload_document', 'context') }},
                {{ json_type('source.payload_document', 'context.product') }},
                {{ json_type('source.payload_document', 'context.order') }},
                {{ json_type('source.payload_document', 'page.utm') }},
                {{ json_type('source.payload_document', 'page.click_ids') }},
                {{ json_type('source.payload_document', 'context.browser') }},
                {{ json_type('source.payload_document', 'context.ping') }},
                {{ json_field('source.payload_document', 'event_id') }},
                {{ json_field('source.payload_document', 'event_timestamp') }},
                {{ json_field('source.payload_document', 'event_name') }},
                {{ json_field('source.payload_document', 'session_id') }},
                {{ json_field('source.payload_document', 'client_id') }},
                {{ json_field('source.payload_document', 'user_id') }},
                {{ json_field('source.payload_document', 'user_login_state') }},
                {{ json_field('source.payload_document', 'identity_source') }},
                {{ json_field('source.payload_document', 'is_first_visit') }},
                {{ json_field('source.payload_document', 'consent_state') }},
                {{ json_field('source.payload_document', 'page.url') }},
                {{ json_field('source.payload_document', 'page.path') }},
                {{ json_field('source.payload_document', 'page.title') }},
                {{ json_field('source.payload_document', 'page.referrer') }},
                {{ json_field('source.payload_document', 'context.product.id') }},
                {{ json_field('source.payload_document', 'context.product.name') }},
                {{ json_field('source.payload_document', 'context.product.category') }},
                {{ json_field('source.payload_document', 'context.product.brand') }},
                {{ json_field('source.payload_document', 'context.product.url_path') }},
                {{ json_field('source.payload_document', 'context.product.price') }},
                {{ json_field('source.payload_document', 'context.product.discount_price') }},
                {{ json_field('source.payload_document', 'context.product.quantity') }},
                {{ json_field('source.payload_document', 'context.order.order_id') }},
                {{ json_field('source.payload_document', 'context.order.currency') }},
                {{ json_field('source.payload_document', 'ingest.received_at') }},
                {{ json_field('source.payload_document', 'ingest.request_id') }},
                {{ json_field('source.payload_document', 'ingest.user_agent') }},
                {{ json_field('source.payload_document', 'page.page_view_id') }},
                {{ json_field('source.payload_document', 'page.utm.source') }},
                {{ json_field('source.payload_document', 'page.utm.medium') }},
                {{ json_field('source.payload_document', 'page.utm.campaign') }},
                {{ json_field('source.payload_document', 'page.utm.term') }},
                {{ json_field('source.payload_document', 'page.utm.content') }},
                {{ json_field('source.payload_document', 'page.click_ids.gclid') }},
                {{ json_field('source.payload_document', 'page.click_ids.fbclid') }},
                {{ json_field('source.payload_document', 'page.click_ids.msclkid') }},
                {{ json_field('source.payload_document', 'context.browser.language') }},
                {{ json_field('source.payload_document', 'context.browser.screen_width') }},
                {{ json_field('source.payload_document', 'context.browser.screen_height') }},
                {{ json_field('source.payload_document', 'context.browser.viewport_width') }},
                {{ json_field('source.payload_document', 'context.browser.viewport_height') }},
                {{ json_field('source.payload_document', 'context.ping.engaged_seconds') }},
                {{ json_field('source.payload_document', 'context.ping.max_scroll_depth_pct') }}
                {{- per_line_columns_from('source') }}
            {{ once_per_line() }}  -- noqa: AM09
        ) as texts
    {% endcall %}
),
-- noqa: enable=LT02

flattened as (
    select
        ----------  lineage
        fields_typed.s3_key,
        fields_typed.line_number,
        fields_typed.loaded_at,
        fields_typed.load_id,
        fields_typed.payload,

        ----------  ids
        fields_typed.event_id_text as event_id,
        fields_typed.session_id_text as session_id,
        fields_typed.client_id_text as client_id,
        fields_typed.user_id_text as user_id,

        ----------  event
        fields_typed.event_name_text as event_name,
        fields_typed.event_timestamp,
        fields_typed.user_login_state_text as user_login_state,
        fields_typed.identity_source_text as identity_source,
        fields_typed.is_first_visit,
        fields_typed.consent_state_text as consent_state,

        ----------  page
        fields_typed.page_url_text as page_url,
        fields_typed.page_path_text as page_path,
        fields_typed.page_title_text as page_title,
        fields_typed.page_referrer_text as page_referrer,

        ----------  product
        fields_typed.context_product_id_text as context_product_id,
        fields_typed.context_product_name_text as context_product_name,
        fields_typed.context_product_category_text as context_product_category,
        fields_typed.context_product_brand_text as context_product_brand,
        fields_typed.context_product_price,
        fields_typed.context_product_discount_price,
        fields_typed.context_product_url_path_text as context_product_url_path,
        fields_typed.product_quantity,

        ----------  order
        fields_typed.context_order_order_id_text as order_id,
        fields_typed.context_order_currency_text as order_currency,

        ----------  ingest (added by the ingest Lambda)
        fields_typed.received_at,
        fields_typed.ingest_request_id_text as ingest_request_id,
        fields_typed.ingest_user_agent_text as user_agent,

        ----------  acquisition and engagement (issue 11, all optional)
        fields_typed.page_page_view_id_text as page_view_id,
        fields_typed.page_utm_source_text as page_utm_source,
        fields_typed.page_utm_medium_text as page_utm_medium,
        fields_typed.page_utm_campaign_text as page_utm_campaign,
        fields_typed.page_utm_term_text as page_utm_term,
        fields_typed.page_utm_content_text as page_utm_content,
        fields_typed.page_click_ids_gclid_text as page_click_ids_gclid,
        fields_typed.page_click_ids_fbclid_text as page_click_ids_fbclid,
        fields_typed.page_click_ids_msclkid_text as page_click_ids_msclkid,
        fields_typed.context_browser_language_text as context_browser_language,
        fields_typed.context_browser_screen_width,
        fields_typed.context_browser_screen_height,
        fields_typed.context_browser_viewport_width,
        fields_typed.context_browser_viewport_height,
        fields_typed.context_ping_engaged_seconds,
        fields_typed.context_ping_max_scroll_depth_pct,

        ----------  JSON types, for the contract checks (null: the field is absent)
        fields_typed.payload_json_type,
        fields_typed.page_json_type,
        fields_typed.context_json_type,
        fields_typed.context_product_json_type,
        fields_typed.context_order_json_type,
        fields_typed.event_id_json_type,
        fields_typed.event_timestamp_json_type,
        fields_typed.event_name_json_type,
        fields_typed.session_id_json_type,
        fields_typed.client_id_json_type,
        fields_typed.user_id_json_type,
        fields_typed.user_login_state_json_type,
        fields_typed.identity_source_json_type,
        fields_typed.is_first_visit_json_type,
        fields_typed.consent_state_json_type,
        fields_typed.page_url_json_type,
        fields_typed.page_path_json_type,
        fields_typed.page_title_json_type,
        fields_typed.page_referrer_json_type,
        fields_typed.context_product_id_json_type,
        fields_typed.context_product_name_json_type,
        fields_typed.context_product_category_json_type,
        fields_typed.context_product_brand_json_type,
        fields_typed.context_product_url_path_json_type,
        fields_typed.context_product_price_json_type,
        fields_typed.context_product_discount_price_json_type,
        fields_typed.context_product_quantity_json_type,
        fields_typed.context_order_order_id_json_type,
        fields_typed.context_order_currency_json_type,
        fields_typed.ingest_received_at_json_type,
        fields_typed.ingest_request_id_json_type,
        fields_typed.page_utm_json_type,
        fields_typed.page_click_ids_json_type,
        fields_typed.context_browser_json_type,
        fields_typed.context_ping_json_type,
        fields_typed.page_page_view_id_json_type,
        fields_typed.page_utm_source_json_type,
        fields_typed.page_utm_medium_json_type,
        fields_typed.page_utm_campaign_json_type,
        fields_typed.page_utm_term_json_type,
        fields_typed.page_utm_content_json_type,
        fields_typed.page_click_ids_gclid_json_type,
        fields_typed.page_click_ids_fbclid_json_type,
        fields_typed.page_click_ids_msclkid_json_type,
        fields_typed.context_browser_language_json_type,
        fields_typed.context_browser_screen_width_json_type,
        fields_typed.context_browser_screen_height_json_type,
        fields_typed.context_browser_viewport_width_json_type,
        fields_typed.context_browser_viewport_height_json_type,
        fields_typed.context_ping_engaged_seconds_json_type,
        fields_typed.context_ping_max_scroll_depth_pct_json_type

    from fields_typed
)

select * from flattened
