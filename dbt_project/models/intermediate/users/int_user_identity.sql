{{
    config(**incremental_config(
        unique_key='client_id',
        meta={
            'watermark_column': 'last_loaded_at',
            'built_with_vars': ['consented_data_only'],
        },
        indexes=[
            {'columns': ['client_id'], 'unique': true},
            {'columns': ['user_key']},
            {'columns': ['last_loaded_at']},
        ],
    ))
}}
-- One row per client_id (browser): the user it belongs to. Stitching: a client seen with a
-- user_id maps all its events, the anonymous ones before the login included, to the first
-- user_id it was seen with (by event_timestamp, then event_id); an anonymous client is its
-- own user, 'anon:' || client_id. Incremental runs recompute, from all their events, the
-- clients that received events since the last run (the marts downstream find the clients
-- whose user changed: macros/identity.sql).

with events as {{ not_materialized() }} (
    select * from {{ ref('clickstream_events') }}
    where {{ counted_in_marts() }}
),

{{ client_events_to_recompute() }}

identifying_events as (
    select
        client_id,
        user_id,
        event_timestamp as identified_at,
        row_number() over (
            partition by client_id
            order by event_timestamp, event_id
        ) as position_among_identified
    from client_events
    where user_id is not null
),

clients as (
    select
        client_id,
        min(event_timestamp) as first_seen_at,
        max(event_timestamp) as last_seen_at,
        max(loaded_at) as last_loaded_at
    from client_events
    group by client_id
),

final as (
    select
        clients.client_id::{{ type_text() }} as client_id,
        coalesce(
            identifying_events.user_id, 'anon:' || clients.client_id
        )::{{ type_text() }} as user_key,
        identifying_events.user_id::{{ type_text() }} as user_id,
        clients.first_seen_at,
        clients.last_seen_at,
        identifying_events.identified_at,
        clients.last_loaded_at
    from clients
    left join identifying_events
        on
            clients.client_id = identifying_events.client_id
            and identifying_events.position_among_identified = 1
)

{{ incremental_result('final') }}
