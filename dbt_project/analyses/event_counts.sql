-- Events per day: distinct valid events, the lines that were invalid, and active users.
with events as (
    select * from {{ ref('clickstream_events') }}
),

invalid as (
    select * from {{ ref('invalid_events') }}
),

valid_per_day as (
    select
        event_date,
        count(*) as valid_events,
        count(distinct coalesce(user_id, client_id)) as users,
        count(distinct session_id) as sessions
    from events
    group by event_date
),

invalid_per_day as (
    select
        (loaded_at at time zone 'UTC')::date as loaded_date,
        count(*) as invalid_lines
    from invalid
    group by (loaded_at at time zone 'UTC')::date
),

final as (
    select
        valid_per_day.event_date,
        valid_per_day.valid_events,
        valid_per_day.users,
        valid_per_day.sessions,
        coalesce(invalid_per_day.invalid_lines, 0) as invalid_lines_loaded_that_day
    from valid_per_day
    left join invalid_per_day
        on valid_per_day.event_date = invalid_per_day.loaded_date
)

select * from final
order by event_date
