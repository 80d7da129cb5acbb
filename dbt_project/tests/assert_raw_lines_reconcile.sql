-- The reconciliation (design.md): raw lines = valid events kept + invalid lines + duplicates,
-- exactly. Duplicates are counted independently of the incremental tables, from the
-- classified lines: valid lines whose event_id already has an earlier valid line. Returns a
-- row (a failure) when the books do not balance.
with classified as (
    select * from {{ ref('int_events_classified') }}
),

raw_lines as (
    select count(*) as lines from {{ source('clickstream', 'raw_events') }}
),

valid_lines as (
    select
        count(*) as lines,
        count(distinct event_id) as distinct_events
    from classified
    where is_valid
),

kept as (
    select count(*) as events from {{ ref('clickstream_events') }}
),

invalid as (
    select count(*) as lines from {{ ref('invalid_events') }}
),

books as (
    select
        raw_lines.lines as raw_lines,
        kept.events as valid_events,
        invalid.lines as invalid_lines,
        valid_lines.lines - valid_lines.distinct_events as duplicate_lines,
        valid_lines.distinct_events as distinct_valid_event_ids
    from raw_lines
    cross join valid_lines
    cross join kept
    cross join invalid
)

select * from books
where
    raw_lines <> valid_events + invalid_lines + duplicate_lines
    or valid_events <> distinct_valid_event_ids
