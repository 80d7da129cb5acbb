{{
    config(**incremental_config(
        unique_key='session_id',
        partition_by='view_date',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['page_view_id'], 'unique': true},
            {'columns': ['session_id']},
            {'columns': ['view_date']},
            {'columns': ['last_loaded_at']},
        ],
    ))
}}
-- One row per page view: its page_view event (counted_in_marts: no bot, no consent_update)
-- and the engagement of the page pings that carry its page_view_id. A page view from before
-- page_view_id existed is keyed by its event_id and has no pings.
-- is_entry / is_exit depend on the session's other page views, so incremental runs recompute
-- whole sessions (delete+insert on session_id): every session that received a page view or a
-- ping since the last run. last_loaded_at is the session's newest, so that every recomputed
-- row carries the run's watermark (macros/README.md).

-- Every counted event and ping: any of them touches its session (erasure and replay re-touch
-- one event per session, whatever its name: clickstream/raw_removal.py).
with events as {{ not_materialized() }} (
    select * from {{ ref('clickstream_events') }}
    where ({{ counted_in_marts() }}) or ({{ counted_pings() }})
),

{% if is_incremental() %}
    {{- check_built_with_vars() }}
    touched_sessions as (
        select distinct session_id
        from events
        where loaded_at >= {{ loaded_at_window_start(this) }}
    ),

    session_events as (
        select events.*
        from events
        inner join touched_sessions
            on events.session_id = touched_sessions.session_id
    ),
{% else %}
    session_events as (
        select * from events
    ),
{% endif %}

page_view_events as (
    select
        *,
        coalesce(page_view_id, event_id) as view_key,
        -- a page_view_id sent twice (a tracker bug): its first page_view is the page view
        row_number() over (
            partition by session_id, coalesce(page_view_id, event_id)
            order by event_timestamp, event_id
        ) as copy_number
    from session_events
    where event_name = 'page_view'
),

page_views as (
    select
        *,
        row_number() over (
            partition by session_id order by event_timestamp, event_id
        ) as position_in_session,
        count(*) over (partition by session_id) as session_page_views
    from page_view_events
    where copy_number = 1
),

pings as (
    select
        session_id,
        page_view_id,
        count(*) as page_pings,
        coalesce(sum(ping_engaged_seconds), 0) as engaged_seconds,
        max(ping_max_scroll_depth_pct) as max_scroll_depth_pct
    from session_events
    where event_name = 'page_ping'
    group by session_id, page_view_id
),

session_loads as (
    select
        session_id,
        max(loaded_at) as last_loaded_at
    from session_events
    group by session_id
),

final as (
    select
        page_views.view_key::{{ type_text() }} as page_view_id,
        page_views.session_id::{{ type_text() }} as session_id,
        page_views.client_id::{{ type_text() }} as client_id,
        page_views.user_id::{{ type_text() }} as user_id,
        page_views.event_timestamp as page_view_at,
        {{ utc_date('page_views.event_timestamp') }} as view_date,
        page_views.page_path::{{ type_text() }} as page_path,
        page_views.page_url::{{ type_text() }} as page_url,
        page_views.page_title::{{ type_text() }} as page_title,
        page_views.page_referrer::{{ type_text() }} as referrer,
        coalesce(pings.engaged_seconds, 0)::numeric(14, 3) as engaged_seconds,
        pings.max_scroll_depth_pct::integer as max_scroll_depth_pct,
        coalesce(pings.page_pings, 0)::integer as page_pings,
        page_views.position_in_session = 1 as is_entry,
        page_views.position_in_session = page_views.session_page_views as is_exit,
        session_loads.last_loaded_at
    from page_views
    inner join session_loads
        on page_views.session_id = session_loads.session_id
    left join pings
        on
            page_views.session_id = pings.session_id
            and page_views.view_key = pings.page_view_id
)

{{ incremental_result('final') }}
