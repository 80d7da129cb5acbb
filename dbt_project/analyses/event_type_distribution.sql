-- How the events split by name: count and share of all valid events.
with events as (
    select * from {{ ref('clickstream_events') }}
),

counted as (
    select
        event_name,
        count(*) as events
    from events
    group by event_name
),

final as (
    select
        event_name,
        events,
        round(100.0 * events / sum(events) over (), 2) as percent_of_events
    from counted
)

select * from final
order by events desc
