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
-- The retention (python -m extract_load prune) drops whole load days of raw lines once every
-- mart has built and tested them; the marts keep their rows. So the books are checked from
-- the end of the newest dropped day on (staging.raw_events_dropped_days), never before.
-- The window's start is read when the test runs and written in as a literal: as a subquery
-- the planner could not tell how few lines it keeps, guessed a third of the table, and read
-- the whole of int_events_classified and clickstream_events to look up a few duplicates.
-- Only compiled (sqlfluff, docs), the tables may not exist (running_nodes()): everything.
{%- set window_start_query -%}
    select {{ text_of(
        'greatest(' ~ checked_window_start('clickstream_events') ~ ', '
        ~ utc_midnight('max(load_day + 1)') ~ ')') }}
    from {{ source('clickstream', 'raw_events_dropped_days') }}
{%- endset %}
{%- set checked_from = timestamp_literal(run_query(window_start_query).rows[0][0])
    if running_nodes() else earliest_timestamp() %}

with raw_lines as (
    select
        s3_key,
        line_number
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
        raw_lines.s3_key,
        raw_lines.line_number,
        kept.event_id is not null as is_kept,
        invalid.s3_key is not null as is_invalid
    from raw_lines
    left join kept
        on
            raw_lines.s3_key = kept.s3_key
            and raw_lines.line_number = kept.line_number
    left join invalid
        on
            raw_lines.s3_key = invalid.s3_key
            and raw_lines.line_number = invalid.line_number
),

-- The lines neither kept nor invalid, with their event_id as classified (int_events_classified,
-- the table the marts read: no payload read again). A raw line that was never classified has
-- no event_id here, so it is unaccounted for. A line's classified row carries its loaded_at:
-- the window applies to it too, so that the lookup reads the window's rows, not the table.
duplicates as (
    select lower(classified.event_id) as event_id
    from accounted
    left join {{ ref('int_events_classified') }} as classified
        on
            accounted.s3_key = classified.s3_key
            and accounted.line_number = classified.line_number
            and classified.loaded_at >= {{ checked_from }}
    where
        not accounted.is_kept
        and not accounted.is_invalid
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
    select count(*) as lines_unaccounted_for
    from duplicates
    left join all_kept
        on duplicates.event_id = all_kept.event_id
    where all_kept.event_id is null
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
