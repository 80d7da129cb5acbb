{#
    Casts that never fail: a value of the wrong JSON type or an unparseable string gives
    null, and the intermediate layer classifies the event invalid with a reason. A bad raw
    line must never crash the build.
#}

{# RFC 3339 with a mandatory offset, as the contract (clickstream/contract.py) defines it. #}
{% macro rfc3339_pattern() -%}
    '^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$'
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
    Text to timestamptz when it is RFC 3339 with an offset and a real date and time
    (pg_input_is_valid, PostgreSQL 16, checks without raising); null otherwise.
#}
{% macro safe_timestamptz(text_value) -%}
    case
        when {{ text_value }} ~ {{ rfc3339_pattern() }}
            and pg_input_is_valid({{ text_value }}, 'timestamptz')
            then ({{ text_value }})::timestamptz
    end
{%- endmacro %}

{# A jsonb array of strings as text[]. #}
{% macro jsonb_text_array(json_value) -%}
    array(select jsonb_array_elements_text({{ json_value }}) as element)::text []
{%- endmacro %}
