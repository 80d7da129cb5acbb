-- Every raw line with the reasons it breaks event contract v1 (an empty array when it is
-- valid) and the contract's defaults applied. Row by row, no dedup: a filter on loaded_at is
-- pushed down to the raw table, so incremental models read only the new lines.
{%- set product_events = "'product_view', 'add_to_cart', 'remove_from_cart', 'purchase'" %}
{%- set max_id = 128 %}
{%- set max_text = 2048 %}
{%- set max_price = 1000000000 %}

with raw_events as (
    select * from {{ ref('stg_clickstream__raw_events') }}
),

checked as (
    select
        *,
        array_remove(
            array[
                case
                    when jsonb_typeof(payload) <> 'object' then 'event: must be a JSON object'
                end,
                {{ contract_violation('payload', 'event_id', 'uuid', required=true) }},
                {{ contract_violation('payload', 'event_timestamp', 'timestamp', required=true) }},
                {{ contract_violation('payload', 'event_name', 'enum', required=true,
                    choices=accepted_event_names()) }},
                {{ contract_violation('payload', 'session_id', 'string', required=true,
                    max_length=max_id) }},
                {{ contract_violation('payload', 'client_id', 'string', required=true,
                    max_length=max_id) }},
                {{ contract_violation('payload', 'user_id', 'string', nullable=true,
                    max_length=max_id) }},
                {{ contract_violation('payload', 'user_login_state', 'enum',
                    choices=accepted_login_states()) }},
                {{ contract_violation('payload', 'identity_source', 'string', nullable=true,
                    max_length=max_id) }},
                {{ contract_violation('payload', 'is_first_visit', 'boolean') }},
                {{ contract_violation('payload', 'page', 'object', nullable=true) }},
                {{ contract_violation('payload', 'context', 'object', nullable=true) }},
                {%- for field in ['url', 'path', 'title', 'referrer'] %}
                {{ contract_violation('payload', 'page.' ~ field, 'string', nullable=true,
                    max_length=max_text) }},
                {%- endfor %}
                {{ contract_violation('payload', 'context.product', 'object', nullable=true) }},
                {{ contract_violation('payload', 'context.order', 'object', nullable=true) }},
                case
                    when
                        event_name in ({{ product_events }})
                        and coalesce(jsonb_typeof(payload #> '{context,product}'), 'null') = 'null'
                        then 'context.product: is required for ' || event_name || ' events'
                end,
                {{ contract_violation('payload', 'context.product.id', 'string', required=true,
                    max_length=max_id) }},
                {%- for field in ['name', 'category', 'brand', 'url_path'] %}
                {{ contract_violation('payload', 'context.product.' ~ field, 'string',
                    nullable=true, max_length=max_text) }},
                {%- endfor %}
                {%- for field in ['price', 'discount_price'] %}
                {{ contract_violation('payload', 'context.product.' ~ field, 'number',
                    nullable=true, minimum=0, maximum=max_price) }},
                {%- endfor %}
                {{ contract_violation('payload', 'context.product.quantity', 'integer',
                    minimum=1, maximum=10000) }},
                {{ contract_violation('payload', 'context.order.order_id', 'string',
                    nullable=true, max_length=max_id) }},
                {{ contract_violation('payload', 'context.order.currency', 'currency',
                    nullable=true) }},
                case
                    when received_at is null
                        then 'ingest.received_at: missing or not an RFC 3339 timestamp'
                end,
                case
                    when event_timestamp > received_at + interval '1 hour'
                        then 'event_timestamp: more than 1 hour after ingest.received_at'
                end
            ],
            null
        ) as invalid_reasons
    from raw_events
),

classified as (
    select
        ----------  lineage
        s3_key,
        line_number,
        loaded_at,
        load_id,
        payload,

        ----------  classification
        -- jsonb rather than text[], so that dbt unit tests can build fixtures of this model
        to_jsonb(invalid_reasons) as invalid_reasons,
        cardinality(invalid_reasons) = 0 as is_valid,

        ----------  the event, with the contract's defaults
        -- Nothing below may use invalid_reasons: PostgreSQL inlines this view and would
        -- evaluate the whole array once more for every such use.
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
        received_at
    from checked
)

select * from classified
