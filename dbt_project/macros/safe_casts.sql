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
    {%- set year = integer_of("substr(" ~ text_value ~ ", 1, 4)") -%}
    {%- set month = integer_of("substr(" ~ text_value ~ ", 6, 2)") -%}
    {%- set day = integer_of("substr(" ~ text_value ~ ", 9, 2)") -%}
    {%- set offset = "right(" ~ text_value ~ ", 5)" -%}
    -- a CASE, not AND: PostgreSQL may evaluate AND's operands in any order
    case
        when translate({{ text_value }}, '123456789', '000000000') not in ({{ rfc3339_shapes() }})
            then false
        when {{ year }} = 0 or {{ month }} not between 1 and 12 or {{ day }} = 0 then false
        when
            {{ integer_of('substr(' ~ text_value ~ ', 12, 2)') }} > 23
            or {{ integer_of('substr(' ~ text_value ~ ', 15, 2)') }} > 59
            or {{ integer_of('substr(' ~ text_value ~ ', 18, 2)') }} > 59
            then false
        when
            right({{ text_value }}, 1) <> 'Z'
            and (
                {{ integer_of('substr(' ~ offset ~ ', 1, 2)') }} > 23
                or {{ integer_of('substr(' ~ offset ~ ', 4, 2)') }} > 59
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

{#
    Digits known to be digits (is_rfc3339 checked the shape first) as an integer. Spark's casts
    fail on bad input (ANSI mode): try_cast, should a branch ever be evaluated early.
#}
{% macro integer_of(text_value) -%}
    {{ return(adapter.dispatch('integer_of', 'clickstream')(text_value)) }}
{%- endmacro %}

{% macro default__integer_of(text_value) -%}
    {{ text_value }}::integer
{%- endmacro %}

{% macro spark__integer_of(text_value) -%}
    try_cast({{ text_value }} as int)
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
    {{ return(adapter.dispatch('json_number', 'clickstream')(field)) }}
{%- endmacro %}

{% macro default__json_number(field) -%}
    case when {{ field }}_json_type = 'number' then {{ field }}_text::numeric end
{%- endmacro %}

{# A JSON boolean; null for any other JSON type. #}
{% macro json_boolean(field) -%}
    {{ return(adapter.dispatch('json_boolean', 'clickstream')(field)) }}
{%- endmacro %}

{% macro default__json_boolean(field) -%}
    case when {{ field }}_json_type = 'boolean' then {{ field }}_text::boolean end
{%- endmacro %}

{#
    Spark: a decimal with 18 fractional digits (PostgreSQL's numeric has no fixed scale). A number
    too large for it (above 10^20, far beyond every bound of the contract) gives null, which
    contract_violation counts as out of range.
#}
{% macro spark__json_number(field) -%}
    case when {{ field }}_json_type = 'number' then try_cast({{ field }}_text as decimal(38, 18)) end
{%- endmacro %}

{#
    A number the contract wants an integer (`path`: its dotted path). PostgreSQL: as
    json_number; contract_violation then finds a written fraction (12.0) in the numeric's text.
    Spark's JSON parser drops the trailing zeros of 12.0 but types it DECIMAL(2,0), where 12 is
    a BIGINT: any number not parsed as an integer type gives null here, which contract_violation
    reports as not an integer. (1e2 too: PostgreSQL reads it as 100, the contract's validator,
    clickstream/contract.py, as a float, not an integer, as Spark does here.)
#}
{% macro json_integer(field, path) -%}
    {{ return(adapter.dispatch('json_integer', 'clickstream')(field, path)) }}
{%- endmacro %}

{% macro default__json_integer(field, path) -%}
    {{ json_number(field) }}
{%- endmacro %}

{% macro spark__json_integer(field, path) -%}
    {%- set document = field.split('.')[0] ~ '.payload_document' -%}
    case
        when
            {{ field }}_json_type = 'number'
            and schema_of_variant(variant_get({{ document }}, '$.{{ path }}'))
            in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT')
            then try_cast({{ field }}_text as decimal(38, 18))
    end
{%- endmacro %}

{% macro spark__json_boolean(field) -%}
    case when {{ field }}_json_type = 'boolean' then {{ field }}_text = 'true' end
{%- endmacro %}

{#
    Text to timestamptz when it is RFC 3339 with an offset and a real date and time; null
    otherwise. PostgreSQL's own parser takes `Z` and offsets up to 15:59; the contract allows
    up to 23:59, so farther offsets are subtracted by hand from the local time.
#}
{% macro safe_timestamptz(text_value) -%}
    {{ return(adapter.dispatch('safe_timestamptz', 'clickstream')(text_value)) }}
{%- endmacro %}

{% macro default__safe_timestamptz(text_value) -%}
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

{#
    Spark: the local date and time read as UTC, in microseconds, the fraction rounded to the
    microsecond as PostgreSQL rounds it (a double times 10^6, rint: half to even), then the
    offset subtracted by hand (any offset).
#}
{% macro spark__safe_timestamptz(text_value) -%}
    {%- set sign = "case when left(right(" ~ text_value ~ ", 6), 1) = '-' then -1 else 1 end" -%}
    {%- set offset_seconds = "case when right(" ~ text_value ~ ", 1) = 'Z' then 0 else " ~ sign
        ~ " * (try_cast(substr(right(" ~ text_value ~ ", 5), 1, 2) as int) * 3600"
        ~ " + try_cast(substr(right(" ~ text_value ~ ", 5), 4, 2) as int) * 60) end" -%}
    {#- the fraction: what lies between the seconds (position 20) and the offset -#}
    {%- set fraction = "regexp_extract(" ~ text_value ~ ", '^.{19}[.]([0-9]+)', 1)" -%}
    case
        when not ({{ is_rfc3339(text_value) }}) then null
        else timestamp_micros(
            unix_micros(try_to_timestamp(left({{ text_value }}, 19), "yyyy-MM-dd'T'HH:mm:ss"))
            + coalesce(
                cast(rint(try_cast(concat('0.', {{ fraction }}) as double) * 1000000) as bigint),
                0
            )
            - cast({{ offset_seconds }} as bigint) * 1000000
        )
    end
{%- endmacro %}

{# A jsonb array of strings as text[]. #}
{% macro jsonb_text_array(json_value) -%}
    {{ return(adapter.dispatch('jsonb_text_array', 'clickstream')(json_value)) }}
{%- endmacro %}

{% macro default__jsonb_text_array(json_value) -%}
    array(select jsonb_array_elements_text({{ json_value }}) as element)::text []
{%- endmacro %}

{# Spark: the JSON text of an array of strings (to_json_array()) back into an array. #}
{% macro spark__jsonb_text_array(json_value) -%}
    from_json({{ json_value }}, 'array<string>')
{%- endmacro %}

{# `<field>_json_type`: the JSON type of the field at a dotted path; null when it is absent. #}
{% macro json_type(payload, path) -%}
    {{ return(adapter.dispatch('json_type', 'clickstream')(payload, path)) }}
{%- endmacro %}

{% macro default__json_type(payload, path) -%}
    jsonb_typeof({{ payload }} #> '{{ json_path(path) }}') as {{ path | replace('.', '_') }}_json_type
{%- endmacro %}

{# `<field>_json_type` and `<field>_text`: the field's text, whatever its JSON type. #}
{% macro json_field(payload, path) -%}
    {{ return(adapter.dispatch('json_field', 'clickstream')(payload, path)) }}
{%- endmacro %}

{% macro default__json_field(payload, path) -%}
    {{ json_type(payload, path) }},
    {{ payload }} #>> '{{ json_path(path) }}' as {{ path | replace('.', '_') }}_text
{%- endmacro %}

{#
    Spark: the payload is parsed once into a VARIANT (json_document()); a field is read with
    variant_get, its JSON type from schema_of_variant, named as jsonb_typeof names them. An
    absent field is SQL null; a JSON null is a variant null ('VOID').
#}
{% macro spark__json_type(payload, path) -%}
    {{ json_typeof("variant_get(" ~ payload ~ ", '$." ~ path ~ "')") }}
    as {{ path | replace('.', '_') }}_json_type
{%- endmacro %}

{% macro spark__json_field(payload, path) -%}
    {{ json_type(payload, path) }},
    cast(variant_get({{ payload }}, '$.{{ path }}') as string)
    as {{ path | replace('.', '_') }}_text
{%- endmacro %}

{# The JSON type of a JSON value, as jsonb_typeof names it; null for SQL null. #}
{% macro json_typeof(json_value) -%}
    {{ return(adapter.dispatch('json_typeof', 'clickstream')(json_value)) }}
{%- endmacro %}

{% macro default__json_typeof(json_value) -%}
    jsonb_typeof({{ json_value }})
{%- endmacro %}

{% macro spark__json_typeof(json_value) -%}
    case
        when {{ json_value }} is null then null
        when is_variant_null({{ json_value }}) then 'null'
        else case regexp_extract(schema_of_variant({{ json_value }}), '^[A-Z]+', 0)
            when 'OBJECT' then 'object'
            when 'ARRAY' then 'array'
            when 'STRING' then 'string'
            when 'BOOLEAN' then 'boolean'
            else 'number'
        end
    end
{%- endmacro %}

{#
    The raw line's payload as the JSON document the field macros read: PostgreSQL's is jsonb
    already; Spark's raw table holds the line's text, parsed here once per line.
#}
{% macro json_document(payload) -%}
    {{ return(adapter.dispatch('json_document', 'clickstream')(payload)) }}
{%- endmacro %}

{% macro default__json_document(payload) -%}
    {{ payload }}
{%- endmacro %}

{% macro spark__json_document(payload) -%}
    try_parse_json({{ payload }})
{%- endmacro %}

{#
    Closes a per-line LATERAL subquery. PostgreSQL: a LIMIT (of its only row), so that the
    planner evaluates it once per line and never copies its expressions into every use (see
    stg_clickstream__raw_events). Spark evaluates a lateral subquery without FROM as a plain
    projection of the line, once: nothing to add.
#}
{% macro once_per_line() -%}
    {{ return(adapter.dispatch('once_per_line', 'clickstream')()) }}
{%- endmacro %}

{% macro default__once_per_line() -%}
    limit 1
{%- endmacro %}

{% macro spark__once_per_line() -%}
{%- endmacro %}
