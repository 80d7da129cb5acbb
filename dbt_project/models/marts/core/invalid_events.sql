{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        meta={'watermark_column': 'loaded_at'},
        post_hook=["{{ record_read_through() }}"],
        indexes=[
            {'columns': ['s3_key', 'line_number'], 'unique': true},
            {'columns': ['loaded_at']},
        ],
        file_format='parquet',
    )
}}
-- One row per raw line that breaks event contract v1, kept whole with its reasons. Every
-- invalid line is kept, repeats included: each is a distinct line with its own problem.
-- The window starts where the last run stopped reading the raw lines, not at this table's
-- newest row: invalid lines are rare (macros/incremental_window.sql). On Spark the payload is
-- the line's JSON text.

with classified as (
    select * from {{ ref('int_events_classified') }}
),

{% if is_incremental() %}
    not_kept_yet as (
        select classified.*
        from classified
        where
            not classified.is_valid
            and classified.loaded_at
            >= {{ read_through_window_start() }}
            and not exists (
                select 1 as found
                from {{ this }} as kept
                where
                    kept.s3_key = classified.s3_key
                    and kept.line_number = classified.line_number
            )
    ),
{% else %}
    not_kept_yet as (
        select * from classified
        where not is_valid
    ),
{% endif %}

final as (
    select
        {{ cast_to('s3_key', 'text') }} as s3_key,
        {{ cast_to('line_number', 'integer') }} as line_number,
        {{ cast_to('event_id', 'text') }} as event_id,
        {{ cast_to('event_name', 'text') }} as event_name,
        {{ jsonb_text_array('invalid_reasons') }} as invalid_reasons,
        {{ cast_to('payload', 'jsonb') }} as payload,
        {{ cast_to('loaded_at', 'timestamptz') }} as loaded_at
    from not_kept_yet
)

select * from final
