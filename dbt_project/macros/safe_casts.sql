{#
    Casts that never fail: a value of the wrong JSON type or an unparseable string gives
    null, and the intermediate layer classifies the event invalid with a reason. A bad raw
    line must never crash the build.
#}

{#
    RFC 3339 with a mandatory offset, as the contract (clickstream/contract.py) defines it:
    `T` between date and time, 1-9 fractional digits, `Z` or `+HH:MM`.
#}
{% macro rfc3339_pattern() -%}
    '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$'
{%- endmacro %}

{#
    True when `text_value` is RFC 3339 with an offset AND a real date (no February 30th, no
    year 0). Plain string and integer arithmetic: PostgreSQL's pg_input_is_valid would do, but
    it parses its type name argument on every call and made classification 30 times slower.
#}
{% macro is_rfc3339(text_value) -%}
    {%- set year = "substr(" ~ text_value ~ ", 1, 4)::integer" -%}
    -- a CASE, not AND: PostgreSQL may evaluate AND's operands in any order
    case
        when {{ text_value }} !~ {{ rfc3339_pattern() }} then false
        when {{ year }} = 0 then false
        else substr({{ text_value }}, 9, 2)::integer <= case substr({{ text_value }}, 6, 2)
            when '02' then
                case
                    when mod({{ year }}, 4) = 0
                        and (mod({{ year }}, 100) <> 0 or mod({{ year }}, 400) = 0)
                        then 29
                    else 28
                end
            when '04' then 30
            when '06' then 30
            when '09' then 30
            when '11' then 30
            else 31
        end
    end
{%- endmacro %}

{# The text of a JSON string; null for any other JSON type. #}
{% macro json_text(json_value) -%}
    case when jsonb_typeof({{ json_value }}) = 'string' then {{ json_value }} #>> '{}' end
{%- endmacro %}

{# A JSON number as numeric; null for any other JSON type (a string "12.5" included). #}
{% macro json_number(json_value) -%}
    case when jsonb_typeof({{ json_value }}) = 'number' then ({{ json_value }})::numeric end
{%- endmacro %}

{# A JSON boolean; null for any other JSON type. #}
{% macro json_boolean(json_value) -%}
    case when jsonb_typeof({{ json_value }}) = 'boolean' then ({{ json_value }})::boolean end
{%- endmacro %}

{#
    Text to timestamptz when it is RFC 3339 with an offset and a real date and time; null
    otherwise. The local part is cast as a timestamp and the offset subtracted by hand, so any
    offset the contract allows works (PostgreSQL's own parser refuses offsets past 15:59).
#}
{% macro safe_timestamptz(text_value) -%}
    case
        when {{ is_rfc3339(text_value) }}
            then (
                (regexp_replace({{ text_value }}, '(Z|[+-][0-9]{2}:[0-9]{2})$', ''))::timestamp
                - case
                    when right({{ text_value }}, 1) = 'Z' then interval '0 minutes'
                    else (
                        (case when left(right({{ text_value }}, 6), 1) = '-' then -1 else 1 end)
                        * make_interval(
                            hours => substr(right({{ text_value }}, 5), 1, 2)::integer,
                            mins => substr(right({{ text_value }}, 5), 4, 2)::integer
                        )
                    )
                end
            ) at time zone 'UTC'
    end
{%- endmacro %}

{# A jsonb array of strings as text[]. #}
{% macro jsonb_text_array(json_value) -%}
    array(select jsonb_array_elements_text({{ json_value }}) as element)::text []
{%- endmacro %}
