{#
    The marts' SQL that PostgreSQL and Spark 4 write differently (issue 12). `default__` is
    the project's original PostgreSQL text, so PostgreSQL compiles the same SQL as before;
    `spark__` means the same on Spark, whose TIMESTAMP is an instant shown in the session time
    zone (UTC, profiles/profiles.yml): it plays timestamptz's part, so "the UTC date of" a
    timestamp is its date there.
#}

{#
    `with name as {{ not_materialized() }} (...)`: PostgreSQL would materialize a CTE used more
    than once (copying all the events first); Spark inlines every CTE and has no such clause.
#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'clickstream')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}
    not materialized
{%- endmacro %}

{% macro spark__not_materialized() -%}
{%- endmacro %}

{# The type of free text: PostgreSQL's text, Spark's string. #}
{% macro type_text() -%}
    {{ return(adapter.dispatch('type_text', 'clickstream')()) }}
{%- endmacro %}

{% macro default__type_text() -%}
    text
{%- endmacro %}

{% macro spark__type_text() -%}
    string
{%- endmacro %}

{#
    An exact number of any scale (durations, engaged seconds). PostgreSQL's numeric has no
    fixed scale; Spark's bare `decimal` is decimal(10, 0), which would drop the fractions. The
    values it holds have at most 6 decimals (microseconds; engaged seconds have 3), so
    decimal(38, 6) keeps every one of them exactly.
#}
{% macro type_numeric() -%}
    {{ return(adapter.dispatch('type_numeric', 'clickstream')()) }}
{%- endmacro %}

{% macro default__type_numeric() -%}
    numeric
{%- endmacro %}

{% macro spark__type_numeric() -%}
    decimal(38, 6)
{%- endmacro %}

{# The UTC date of a timestamp(tz) (Spark's session time zone is UTC: devtools/spark.py). #}
{% macro utc_date(timestamp) -%}
    {{ return(adapter.dispatch('utc_date', 'clickstream')(timestamp)) }}
{%- endmacro %}

{% macro default__utc_date(timestamp) -%}
    ({{ timestamp }} at time zone 'UTC')::date
{%- endmacro %}

{% macro spark__utc_date(timestamp) -%}
    cast({{ timestamp }} as date)
{%- endmacro %}

{# The start of the UTC hour of a timestamp(tz), as a timestamp(tz). #}
{% macro utc_hour(timestamp) -%}
    {{ return(adapter.dispatch('utc_hour', 'clickstream')(timestamp)) }}
{%- endmacro %}

{% macro default__utc_hour(timestamp) -%}
    date_trunc('hour', {{ timestamp }}, 'UTC')
{%- endmacro %}

{% macro spark__utc_hour(timestamp) -%}
    date_trunc('hour', {{ timestamp }})
{%- endmacro %}

{#
    The seconds from `earlier` to `later`, exact to the microsecond (PostgreSQL's extract(epoch)
    of the interval; on Spark from the microseconds since the epoch).
#}
{% macro seconds_between(later, earlier) -%}
    {{ return(adapter.dispatch('seconds_between', 'clickstream')(later, earlier)) }}
{%- endmacro %}

{% macro default__seconds_between(later, earlier) -%}
    extract(epoch from {{ later }} - {{ earlier }})
{%- endmacro %}

{% macro spark__seconds_between(later, earlier) -%}
    cast(unix_micros({{ later }}) - unix_micros({{ earlier }}) as decimal(38, 0)) / 1000000
{%- endmacro %}

{#
    The whole weeks from date `earlier` to date `later` (later >= earlier). PostgreSQL's date
    difference is a number of days; Spark's is an interval, hence datediff (and `div`, as
    PostgreSQL's integer `/`).
#}
{% macro weeks_between(later, earlier) -%}
    {{ return(adapter.dispatch('weeks_between', 'clickstream')(later, earlier)) }}
{%- endmacro %}

{% macro default__weeks_between(later, earlier) -%}
    ({{ later }} - {{ earlier }}) / 7
{%- endmacro %}

{% macro spark__weeks_between(later, earlier) -%}
    datediff({{ later }}, {{ earlier }}) div 7
{%- endmacro %}

{#
    The first capture group of the regular expression `pattern` (no quotes in it) in `text`;
    null when it does not match (Spark's regexp_extract gives '' then: the groups this project
    captures are never empty, so '' can only mean no match).
#}
{% macro regex_substring(text, pattern) -%}
    {{ return(adapter.dispatch('regex_substring', 'clickstream')(text, pattern)) }}
{%- endmacro %}

{% macro default__regex_substring(text, pattern) -%}
    substring({{ text }} from '{{ pattern }}')
{%- endmacro %}

{% macro spark__regex_substring(text, pattern) -%}
    nullif(regexp_extract({{ text }}, '{{ pattern }}', 1), '')
{%- endmacro %}
