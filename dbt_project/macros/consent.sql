{#
    Consent (issue 14.1). Events carry `consent_state`: 'granted', 'denied', or null when the
    site does not ask for consent. clickstream_events keeps every valid event, consent_update
    included; the marts count visitor activity and read it through counted_in_marts():

    - `consent_update` records a choice, not activity: no mart counts it (no page view, step,
      session event, product or activity row comes from it); query clickstream_events for it.
    - var `consented_data_only` (default false). When true, the marts also leave out the
      non-consented events, i.e. those whose consent_state is 'denied'. An event with no
      consent_state is kept: it comes from a site that does not ask for consent, and the
      warehouse cannot tell from an event whether its site should have asked (the tracker on
      a site that asks sends nothing at all before consent, so it never sends such an event).
      A visitor who withdraws consent: the events sent while consent was granted stay (they
      were lawful then); the withdrawal itself is a consent_update 'denied', and nothing is
      sent after it. Removing a person's past events is erasure, not this var.
    Changing the var changes every mart row: an incremental run refuses it (built_with.sql),
    rebuild with `make dbt-full-refresh`.
#}

{% macro consented_data_only() -%}
    {%- set value = var('consented_data_only') -%}
    {%- if value is not sameas true and value is not sameas false -%}
        {{ exceptions.raise_compiler_error(
            "var consented_data_only must be true or false (got '" ~ value ~ "')") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#
    Issue 11: `page_ping` (engagement, not activity) and bot traffic (is_bot, from the
    parsed user agent) are kept in clickstream_events but counted by no mart but the ones made
    for them (fct_page_views reads pings, fct_bot_traffic_daily reads bots).

    The condition an event of clickstream_events (as `relation`, when the query names it) must
    meet to count in the marts.
#}
{% macro counted_in_marts(relation=none) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {{ prefix }}event_name not in ('consent_update', 'page_ping')
    and not coalesce({{ prefix }}is_bot, false)
    {%- if consented_data_only() %}
        and {{ prefix }}consent_state is distinct from 'denied'
    {%- endif %}
{%- endmacro %}

{#
    The page pings the engagement measures read (fct_page_views, fct_sessions.engaged_seconds):
    the same rules as counted_in_marts() but for the event name.
#}
{% macro counted_pings(relation=none) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {{ prefix }}event_name = 'page_ping'
    and not coalesce({{ prefix }}is_bot, false)
    {%- if consented_data_only() %}
        and {{ prefix }}consent_state is distinct from 'denied'
    {%- endif %}
{%- endmacro %}

{# The bot events fct_bot_traffic_daily counts: any but consent_update, by the same consent rule. #}
{% macro counted_bot_events(relation=none) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {{ prefix }}is_bot
    and {{ prefix }}event_name <> 'consent_update'
    {%- if consented_data_only() %}
        and {{ prefix }}consent_state is distinct from 'denied'
    {%- endif %}
{%- endmacro %}
