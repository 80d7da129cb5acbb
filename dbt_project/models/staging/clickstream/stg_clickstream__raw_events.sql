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

with source as (
    select * from {{ source('clickstream', 'raw_events') }}
),

fields_typed as (
    select
        source.*,
        json_fields.*
    from source
    cross join lateral (  -- noqa: ST05
        select
            texts.*,
            {{ safe_timestamptz('texts.event_timestamp_text') }} as event_timestamp,
            {{ safe_timestamptz('texts.ingest_received_at_text') }} as received_at,
            {{ json_boolean('texts.is_first_visit') }} as is_first_visit,
            {{ json_number('texts.context_product_price') }} as context_product_price,
            {{ json_number('texts.context_product_discount_price') }}
                as context_product_discount_price,
            {{ json_number('texts.context_product_quantity') }} as product_quantity
        from (
            select
                jsonb_typeof(source.payload) as payload_json_type,
                {{ json_type('source.payload', 'page') }},
                {{ json_type('source.payload', 'context') }},
                {{ json_type('source.payload', 'context.product') }},
                {{ json_type('source.payload', 'context.order') }},
                {{ json_field('source.payload', 'event_id') }},
                {{ json_field('source.payload', 'event_timestamp') }},
                {{ json_field('source.payload', 'event_name') }},
                {{ json_field('source.payload', 'session_id') }},
                {{ json_field('source.payload', 'client_id') }},
                {{ json_field('source.payload', 'user_id') }},
                {{ json_field('source.payload', 'user_login_state') }},
                {{ json_field('source.payload', 'identity_source') }},
                {{ json_field('source.payload', 'is_first_visit') }},
                {{ json_field('source.payload', 'consent_state') }},
                {{ json_field('source.payload', 'page.url') }},
                {{ json_field('source.payload', 'page.path') }},
                {{ json_field('source.payload', 'page.title') }},
                {{ json_field('source.payload', 'page.referrer') }},
                {{ json_field('source.payload', 'context.product.id') }},
                {{ json_field('source.payload', 'context.product.name') }},
                {{ json_field('source.payload', 'context.product.category') }},
                {{ json_field('source.payload', 'context.product.brand') }},
                {{ json_field('source.payload', 'context.product.url_path') }},
                {{ json_field('source.payload', 'context.product.price') }},
                {{ json_field('source.payload', 'context.product.discount_price') }},
                {{ json_field('source.payload', 'context.product.quantity') }},
                {{ json_field('source.payload', 'context.order.order_id') }},
                {{ json_field('source.payload', 'context.order.currency') }},
                {{ json_field('source.payload', 'ingest.received_at') }},
                {{ json_field('source.payload', 'ingest.request_id') }}
            limit 1  -- noqa: AM09
        ) as texts
        limit 1  -- noqa: AM09
    ) as json_fields
),

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
        fields_typed.ingest_request_id_json_type

    from fields_typed
)

select * from flattened
