{{
    config(**incremental_config(
        unique_key='user_key',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only', 'reporting_currency'],
        },
        indexes=[
            {'columns': ['user_key'], 'unique': true},
            {'columns': ['first_seen_at']},
            {'columns': ['last_loaded_at']},
        ],
        empty_rows='clients = 0',
    ))
}}
-- One row per user_key (int_user_identity): the stitched user (user_id) or the anonymous
-- client ('anon:' || client_id), with all the events of all its clients. Incremental runs
-- recompute the users of the clients that received events since the last run and, when a
-- client's user changed (a login), the user it had before (macros/identity.sql). A user
-- left with no client (the 'anon:' row of a client that logged in) comes out with
-- clients = 0 and the post-hook deletes it.

with events as {{ not_materialized() }} (
    select * from {{ ref('clickstream_events') }}
    where {{ counted_in_marts() }}
),

identity as {{ not_materialized() }} (
    select * from {{ ref('int_user_identity') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
),

sessions as (
    select * from {{ ref('fct_sessions') }}
),

{% if is_incremental() %}
    {{- check_built_with_vars(unrecorded={
        'consented_data_only': false, 'reporting_currency': var('reporting_currency')
    }) }}
    {{ user_touch_ctes(loaded_at_window_start(this)) }}

    user_clients as (
        select
            touched_user_keys.user_key,
            identity.client_id,
            identity.user_id,
            identity.first_seen_at,
            identity.last_seen_at,
            identity.last_loaded_at
        from touched_user_keys
        left join identity
            on touched_user_keys.user_key = identity.user_key
    ),
{% else %}
    user_clients as (
        select * from identity
    ),
{% endif %}

user_events as (
    select
        user_clients.user_key,
        events.session_id,
        row_number() over (
            partition by user_clients.user_key
            order by events.event_timestamp, events.event_id
        ) as position_for_user
    from user_clients
    inner join events
        on user_clients.client_id = events.client_id
),

user_sessions as (
    select
        user_key,
        count(distinct session_id) as sessions,
        min(session_id) filter (where position_for_user = 1) as first_session_id
    from user_events
    group by user_key
),

user_orders as (
    select
        orders.user_key,
        count(*) as orders,
        sum(orders.revenue) filter (
            where orders.currency = {{ reporting_currency() }}
        ) as revenue
    from orders
    where orders.user_key in (select user_clients.user_key from user_clients)
    group by orders.user_key
),

aggregated as (
    select
        user_key,
        max(user_id) as user_id,
        count(client_id) as clients,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        max(last_loaded_at) as last_loaded_at
    from user_clients
    group by user_key
),

final as (
    select
        aggregated.user_key::{{ type_text() }} as user_key,
        aggregated.user_id::{{ type_text() }} as user_id,
        aggregated.user_id is not null as is_identified,
        aggregated.clients::integer as clients,
        aggregated.first_seen_at,
        aggregated.last_seen_at,
        user_sessions.first_session_id::{{ type_text() }} as first_session_id,
        first_sessions.channel as first_channel,
        coalesce(user_sessions.sessions, 0)::integer as sessions,
        coalesce(user_orders.orders, 0)::integer as orders,
        coalesce(user_orders.revenue, 0)::numeric(14, 2) as revenue,
        aggregated.last_loaded_at
    from aggregated
    left join user_sessions
        on aggregated.user_key = user_sessions.user_key
    left join user_orders
        on aggregated.user_key = user_orders.user_key
    left join sessions as first_sessions
        on user_sessions.first_session_id = first_sessions.session_id
)

{{ incremental_result('final') }}
