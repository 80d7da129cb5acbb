-- The reconciliation (design.md): raw lines = valid events kept + invalid lines + duplicates,
-- exactly, checked line by line. Every raw line must be the kept copy of its event (same
-- s3_key and line_number in clickstream_events), an invalid line (in invalid_events), or a
-- duplicate: a line whose event_id is kept from another line. The counts must then add up,
-- which also proves that neither table holds a row that matches no raw line.
-- Returns a row (a failure) when the books do not balance. Joins only, no re-classification.
-- An incremental build checks the lines loaded since the last build that passed its tests
-- (macros/checked_windows.sql): a kept or invalid row has its raw line's loaded_at, so the
-- books balance within any loaded_at window. A duplicate's kept copy may be older: looked up
-- in the whole table.
{%- set checked_from = checked_window_start('clickstream_events') %}

with raw_events as (
    select
        s3_key,
        line_number,
        lower(payload ->> 'event_id') as event_id
    from {{ source('clickstream', 'raw_events') }}
    where loaded_at >= {{ checked_from }}
),

all_kept as (
    select event_id from {{ ref('clickstream_events') }}
),

kept as (
    select
        s3_key,
        line_number,
        event_id
    from {{ ref('clickstream_events') }}
    where loaded_at >= {{ checked_from }}
),

invalid as (
    select
        s3_key,
        line_number
    from {{ ref('invalid_events') }}
    where loaded_at >= {{ checked_from }}
),

accounted as (
    select
        raw_events.event_id,
        kept.event_id is not null as is_kept,
        invalid.s3_key is not null as is_invalid
    from raw_events
    left join kept
        on
            raw_events.s3_key = kept.s3_key
            and raw_events.line_number = kept.line_number
    left join invalid
        on
            raw_events.s3_key = invalid.s3_key
            and raw_events.line_number = invalid.line_number
),

duplicates as (
    select
        accounted.event_id,
        all_kept.event_id is not null as is_copy_of_a_kept_event
    from accounted
    left join all_kept
        on accounted.event_id = all_kept.event_id
    where not accounted.is_kept and not accounted.is_invalid
),

line_counts as (
    select
        count(*) as raw_lines,
        count(*) filter (where is_kept) as raw_lines_kept,
        count(*) filter (where is_invalid) as raw_lines_invalid,
        count(*) filter (where not is_kept and not is_invalid) as duplicate_lines
    from accounted
),

kept_count as (
    select count(*) as valid_events from kept
),

invalid_count as (
    select count(*) as invalid_lines from invalid
),

unaccounted_count as (
    select count(*) as lines_unaccounted_for from duplicates
    where not is_copy_of_a_kept_event
),

books as (
    select
        line_counts.raw_lines,
        line_counts.raw_lines_kept,
        line_counts.raw_lines_invalid,
        line_counts.duplicate_lines,
        kept_count.valid_events,
        invalid_count.invalid_lines,
        unaccounted_count.lines_unaccounted_for
    from line_counts
    cross join kept_count
    cross join invalid_count
    cross join unaccounted_count
)

select * from books
where
    raw_lines <> valid_events + invalid_lines + duplicate_lines
    or raw_lines_kept <> valid_events
    or raw_lines_invalid <> invalid_lines
    or lines_unaccounted_for > 0
