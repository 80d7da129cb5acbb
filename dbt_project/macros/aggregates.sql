{# numerator / denominator as numeric rounded to 4 places; null when the denominator is 0. #}
{% macro rate(numerator, denominator) -%}
    {{ return(adapter.dispatch('rate', 'clickstream')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__rate(numerator, denominator) -%}
    round({{ numerator }}::numeric / nullif({{ denominator }}, 0), 4)
{%- endmacro %}

{#
    Spark: a decimal division (a bare `decimal` is decimal(10, 0); integer `/` is a double),
    rounded half away from zero as PostgreSQL's numeric round.
#}
{% macro spark__rate(numerator, denominator) -%}
    round(cast({{ numerator }} as decimal(20, 0)) / nullif({{ denominator }}, 0), 4)
{%- endmacro %}

{#
    The value of `column` on the most recent event (event_timestamp, then event_id) among the
    events of the group where `present_when` (default: `column`) is not null.
#}
{% macro latest_value(column, present_when=none) -%}
    {{ return(adapter.dispatch('latest_value', 'clickstream')(column, present_when)) }}
{%- endmacro %}

{% macro default__latest_value(column, present_when) -%}
    (array_agg({{ column }} order by event_timestamp desc, event_id desc)
        filter (where {{ present_when or column }} is not null))[1]
{%- endmacro %}

{# Spark: the value at the greatest (event_timestamp, event_id), compared as a struct. #}
{% macro spark__latest_value(column, present_when) -%}
    max_by({{ column }}, struct(event_timestamp, event_id))
        filter (where {{ present_when or column }} is not null)
{%- endmacro %}

{#
    How many of the group's events are named `event_name`. The name is checked against the
    contract's event names at compile time: a misspelt one would otherwise count 0 forever.
#}
{% macro count_events(event_name) -%}
    {%- if event_name not in accepted_event_names() -%}
        {{ exceptions.raise_compiler_error(
            "count_events: '" ~ event_name ~ "' is not an event name of the contract ("
            ~ accepted_event_names() | join(', ') ~ ")") }}
    {%- endif -%}
    count(*) filter (where event_name = '{{ event_name }}')
{%- endmacro %}
