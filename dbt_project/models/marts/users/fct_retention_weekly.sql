{{
    config(**incremental_config(
        unique_key='cohort_week',
        partition_by='cohort_week',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['cohort_week', 'weeks_since_first_visit'], 'unique': true},
        ],
        empty_rows='cohort_users = 0',
    ))
}}
-- One row per (cohort_week, weeks_since_first_visit 0..12). A user's cohort is the week
-- (Monday, UTC) of their first visit (dim_users.first_seen_at, over all their clients); they
-- are active in a week when any counted event of theirs falls in it (int_client_active_weeks,
-- the weeks of each of their clients). Each cohort has all 13 rows: weeks with nobody active
-- (or not reached yet) have active_users = 0.
-- Incremental runs recompute, whole, every cohort week in which a touched user's first visit
-- was or may have been before this run (macros/identity.sql): a login that moves a user's
-- first visit earlier empties the cohort of their 'anon:' key, and such a cohort comes out
-- with cohort_users = 0 and the post-hook deletes it.

-- events: read by the incremental runs only (user_touch_ctes), a full build counts client weeks
with events as {{ not_materialized() }} (  -- noqa: ST03
    select * from {{ ref('clickstream_events') }}
    where {{ counted_in_marts() }}
),

identity as {{ not_materialized() }} (
    select * from {{ ref('int_user_identity') }}
),

client_weeks as (
    select * from {{ ref('int_client_active_weeks') }}
),

users as (
    select
        *,
        {{ utc_week_start('first_seen_at') }} as cohort_week
    from {{ ref('dim_users') }}
),

week_offsets as (
    {{ retention_week_offsets() }}
),

{% if is_incremental() %}
    {{- check_built_with_vars() }}
    {{ user_touch_ctes(loaded_at_window_start(this)) }}

    -- the cohorts of the window's users (they may be active in a new week) and every
    -- cohort a changed user may have left or joined
    touched_cohort_weeks as (
        select users.cohort_week
        from users
        inner join touched_user_keys
            on users.user_key = touched_user_keys.user_key
        union
        select {{ utc_week_start('first_visit_at') }} as cohort_week
        from first_visit_candidates
    ),

    cohort_users as (
        select
            touched_cohort_weeks.cohort_week,
            users.user_key,
            users.last_loaded_at
        from touched_cohort_weeks
        left join users
            on touched_cohort_weeks.cohort_week = users.cohort_week
    ),
{% else %}
    cohort_users as (
        select
            cohort_week,
            user_key,
            last_loaded_at
        from users
    ),
{% endif %}

cohorts as (
    select
        cohort_week,
        count(user_key) as cohort_users,
        max(last_loaded_at) as last_loaded_at
    from cohort_users
    group by cohort_week
),

active_weeks as (
    select distinct
        cohort_users.cohort_week,
        cohort_users.user_key,
        {{ weeks_between('client_weeks.active_week', 'cohort_users.cohort_week') }}
            as weeks_since_first_visit
    from cohort_users
    inner join identity
        on cohort_users.user_key = identity.user_key
    inner join client_weeks
        on identity.client_id = client_weeks.client_id
    where
        client_weeks.active_week >= cohort_users.cohort_week
        -- weeks 0 to 12
        and client_weeks.active_week < cohort_users.cohort_week + 13 * 7
),

active as (
    select
        cohort_week,
        weeks_since_first_visit,
        count(*) as active_users
    from active_weeks
    group by cohort_week, weeks_since_first_visit
),

final as (
    select
        cohorts.cohort_week,
        week_offsets.weeks_since_first_visit::integer as weeks_since_first_visit,
        cohorts.cohort_users::integer as cohort_users,
        coalesce(active.active_users, 0)::integer as active_users,
        {{ rate('coalesce(active.active_users, 0)', 'cohorts.cohort_users') }}
            as retention_rate,
        cohorts.last_loaded_at
    from cohorts
    cross join week_offsets
    left join active
        on
            cohorts.cohort_week = active.cohort_week
            and week_offsets.weeks_since_first_visit = active.weeks_since_first_visit
)

{{ incremental_result('final') }}
