{#
    Casts that never fail: a value of the wrong JSON type or an unparseable string gives
    null, and the intermediate layer classifies the event invalid with a reason. A bad raw
    line must never crash the build.
#}

{#
    RFC 3339 with a mandatory offset, as the contract (clickstream/contract.py) defines it:
    `T` between date and time, 0-9 fractional digits, `Z` or `+HH:MM`. Every shape such a
    timestamp can have, its digits written as 0: 10 fractions x 3 offset forms.
#}
{% macro rfc3339_shapes() -%}
    {%- set shapes = [] -%}
    {%- for digits in range(10) -%}
        {%- set fraction = ('.' ~ '0' * digits) if digits else '' -%}
        {%- for offset in ['Z', '+00:00', '-00:00'] -%}
            {%- do shapes.append("'0000-00-00T00:00:00" ~ fraction ~ offset ~ "'") -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ shapes | join(', ') }}
{%- endmacro %}

{#
    True when `text_value` is RFC 3339 with an offset AND a real date and time (no February
    30th, no hour 24, no year 0). Its shape first (every digit turned into 0 must give one of
    the shapes: cheaper than a regular expression, which costs microseconds a line), then plain
    integer arithmetic on digits known to be digits. pg_input_is_valid would do, but it parses
    its type name argument on every call and made classification 30 times slower.
#}
{% macro is_rfc3339(text_value) -%}
    {%- set year = "substr(" ~ text_value ~ ", 1, 4)::integer" -%}
    {%- set month = "substr(" ~ text_value ~ ", 6, 2)::integer" -%}
    {%- set day = "substr(" ~ text_value ~ ", 9, 2)::integer" -%}
    {%- set offset = "right(" ~ text_value ~ ", 5)" -%}
    -- a CASE, not AND: PostgreSQL may evaluate AND's operands in any order
    case
        when translate({{ text_value }}, '123456789', '000000000') not in ({{ rfc3339_shapes() }})
            then false
        when {{ year }} = 0 or {{ month }} not between 1 and 12 or {{ day }} = 0 then false
        when
            substr({{ text_value }}, 12, 2)::integer > 23
            or substr({{ text_value }}, 15, 2)::integer > 59
            or substr({{ text_value }}, 18, 2)::integer > 59
            then false
        when
            right({{ text_value }}, 1) <> 'Z'
            and (
                substr({{ offset }}, 1, 2)::integer > 23
                or substr({{ offset }}, 4, 2)::integer > 59
            )
            then false
        when {{ day }} <= 28 then true
        else {{ day }} <= case {{ month }}
            when 2 then
                case
                    when mod({{ year }}, 4) = 0
                        and (mod({{ year }}, 100) <> 0 or mod({{ year }}, 400) = 0)
                        then 29
                    else 28
                end
            when 4 then 30
            when 6 then 30
            when 9 then 30
            when 11 then 30
            else 31
        end
    end
{%- endmacro %}

{# The `{a,b}` path of a dotted field name such as 'context.product.price', for `#>`. #}
{% macro json_path(path) -%}
    {{ '{' ~ path.split('.') | join(',') ~ '}' }}
{%- endmacro %}

{#
    The fields below are read as a pair of columns `<field>_text` (the value's text, whatever
    its JSON type) and `<field>_json_type` (jsonb_typeof: null when the field is absent).
#}

{# A JSON number as numeric; null for any other JSON type (a string "12.5" included). #}
{% macro json_number(field) -%}
    case when {{ field }}_json_type = 'number' then {{ field }}_text::numeric end
{%- endmacro %}

{# A JSON boolean; null for any other JSON type. #}
{% macro json_boolean(field) -%}
    case when {{ field }}_json_type = 'boolean' then {{ field }}_text::boolean end
{%- endmacro %}

{#
    Text to timestamptz when it is RFC 3339 with an offset and a real date and time; null
    otherwise. PostgreSQL's own parser takes `Z` and offsets up to 15:59; the contract allows
    up to 23:59, so farther offsets are subtracted by hand from the local time.
#}
{% macro safe_timestamptz(text_value) -%}
    {%- set offset_hours = "substr(right(" ~ text_value ~ ", 5), 1, 2)::integer" -%}
    {%- set offset_minutes = "substr(right(" ~ text_value ~ ", 5), 4, 2)::integer" -%}
    case
        when not ({{ is_rfc3339(text_value) }}) then null
        when right({{ text_value }}, 1) = 'Z' or {{ offset_hours }} < 16
            then {{ text_value }}::timestamptz
        else (
            left({{ text_value }}, -6)::timestamp
            - (case when left(right({{ text_value }}, 6), 1) = '-' then -1 else 1 end)
            * make_interval(hours => {{ offset_hours }}, mins => {{ offset_minutes }})
        ) at time zone 'UTC'
    end
{%- endmacro %}

{# A jsonb array of strings as text[]. #}
{% macro jsonb_text_array(json_value) -%}
    array(select jsonb_array_elements_text({{ json_value }}) as element)::text []
{%- endmacro %}

{# `<field>_json_type`: the JSON type of the field at a dotted path; null when it is absent. #}
{% macro json_type(payload, path) -%}
    jsonb_typeof({{ payload }} #> '{{ json_path(path) }}') as {{ path | replace('.', '_') }}_json_type
{%- endmacro %}

{# `<field>_json_type` and `<field>_text`: the field's text, whatever its JSON type. #}
{% macro json_field(payload, path) -%}
    {{ json_type(payload, path) }},
    {{ payload }} #>> '{{ json_path(path) }}' as {{ path | replace('.', '_') }}_text
{%- endmacro %}
