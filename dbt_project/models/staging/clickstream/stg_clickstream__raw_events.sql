-- One row per raw line loaded by extract_load, its jsonb payload flattened and typed.
-- Every cast is safe (macros/safe_casts.sql): a value of the wrong type becomes null here and
-- int_events_classified says why the event is invalid. Nothing is filtered out.
with source as (
    select * from {{ source('clickstream', 'raw_events') }}
),

renamed as (
    select
        ----------  lineage
        s3_key,
        line_number,
        loaded_at,
        load_id,
        payload,

        ----------  ids
        payload ->> 'event_id' as event_id,
        payload ->> 'session_id' as session_id,
        payload ->> 'client_id' as client_id,
        payload ->> 'user_id' as user_id,

        ----------  event
        {{ json_text("payload -> 'event_name'") }} as event_name,
        {{ safe_timestamptz("(payload ->> 'event_timestamp')") }} as event_timestamp,
        payload ->> 'user_login_state' as user_login_state,
        payload ->> 'identity_source' as identity_source,
        {{ json_boolean("payload -> 'is_first_visit'") }} as is_first_visit,

        ----------  page
        payload #>> '{page,url}' as page_url,
        payload #>> '{page,path}' as page_path,
        payload #>> '{page,title}' as page_title,
        payload #>> '{page,referrer}' as page_referrer,

        ----------  product
        payload #>> '{context,product,id}' as context_product_id,
        payload #>> '{context,product,name}' as context_product_name,
        payload #>> '{context,product,category}' as context_product_category,
        payload #>> '{context,product,brand}' as context_product_brand,
        {{ json_number("(payload #> '{context,product,price}')") }} as context_product_price,
        {{ json_number("(payload #> '{context,product,discount_price}')") }}
            as context_product_discount_price,
        payload #>> '{context,product,url_path}' as context_product_url_path,
        {{ json_number("(payload #> '{context,product,quantity}')") }} as product_quantity,

        ----------  order
        payload #>> '{context,order,order_id}' as order_id,
        payload #>> '{context,order,currency}' as order_currency,

        ----------  ingest (added by the ingest Lambda)
        {{ safe_timestamptz("(payload #>> '{ingest,received_at}')") }} as received_at,
        payload #>> '{ingest,request_id}' as ingest_request_id

    from source
)

select * from renamed
