{#
    contract_violation(path, kind, ...): a SQL expression that is null when the field at `path`
    (dotted, e.g. 'context.product.price') obeys event contract v1, else a one-line reason such
    as 'context.product.price: must be a number between 0 and 1000000000'.

    It reads the columns of stg_clickstream__raw_events: the JSON types of the field and of its
    parent (`context_product_price_json_type`, `context_product_json_type`; `payload_json_type`
    for a top-level field) and `column`, the field's value as staging typed it (by default the
    path with underscores): the text of a string, the numeric of a number, the timestamptz of a
    timestamp (null when it is not RFC 3339).

    It mirrors clickstream/contract.py (the ingest Lambda's validator): a field is only checked
    when its parent is a JSON object; `required` fields must be present; fields that are not
    `nullable` must not be JSON null; then the kind's rule. CASE branches run in order, so a
    rule only ever sees a value of the right JSON type.
#}
{% macro contract_violation(
    path, kind, column=none, required=false, nullable=false, max_length=none,
    choices=none, minimum=none, maximum=none
) -%}
    {%- set parts = path.split('.') -%}
    {%- set parent_type = (parts[:-1] | join('_') if parts | length > 1 else 'payload')
        ~ '_json_type' -%}
    {%- set json_type = parts | join('_') ~ '_json_type' -%}
    {%- set value = column or parts | join('_') -%}
    case
        when {{ parent_type }} is distinct from 'object' then null
        when {{ json_type }} is null
            then {{ "'" ~ path ~ ": is required'" if required else "null" }}
        when {{ json_type }} = 'null'
            then {{ "null" if nullable else "'" ~ path ~ ": must not be null'" }}
    {%- if kind == 'string' %}
        when {{ json_type }} <> 'string' then '{{ path }}: must be a string'
        {%- if required %}
        when {{ value }} = '' then '{{ path }}: must not be empty'
        {%- endif %}
        {%- if max_length %}
        when length({{ value }}) > {{ max_length }}
            then '{{ path }}: must be at most {{ max_length }} characters'
        {%- endif %}
    {%- elif kind == 'uuid' %}
        when {{ json_type }} <> 'string'
            or {{ not_matching(value,
                '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$') }}
            then '{{ path }}: must be a UUID'
    {%- elif kind == 'timestamp' %}
        when {{ json_type }} <> 'string' or {{ value }} is null
            then '{{ path }}: must be an RFC 3339 timestamp with an offset'
    {%- elif kind == 'enum' %}
        when {{ json_type }} <> 'string'
            or {{ value }} not in ('{{ choices | join("', '") }}')
            then '{{ path }}: must be one of {{ choices | join(", ") }}'
    {%- elif kind == 'boolean' %}
        when {{ json_type }} <> 'boolean' then '{{ path }}: must be true or false'
    {%- elif kind == 'number' %}
        when {{ json_type }} <> 'number' or {{ number_outside(value, minimum, maximum) }}
            then '{{ path }}: must be a number between {{ minimum }} and {{ maximum }}'
    {%- elif kind == 'integer' %}
        when {{ json_type }} <> 'number' or {{ not_an_integer(value) }}
            or {{ number_outside(value, minimum, maximum) }}
            then '{{ path }}: must be an integer between {{ minimum }} and {{ maximum }}'
    {%- elif kind == 'currency' %}
        when {{ json_type }} <> 'string' or {{ not_matching(value, '^[A-Z]{3}$') }}
            then '{{ path }}: must be a three-letter ISO 4217 code'
    {%- elif kind == 'object' %}
        when {{ json_type }} <> 'object' then '{{ path }}: must be an object'
    {%- else %}
        {{ exceptions.raise_compiler_error("contract_violation: unknown kind " ~ kind) }}
    {%- endif %}
    end
{%- endmacro %}

{#
    The engine differences of the rules above. `pattern`: a POSIX regular expression without
    backslashes (Spark's string literals would read them as escapes).
#}
{% macro not_matching(value, pattern) -%}
    {{ return(adapter.dispatch('not_matching', 'clickstream')(value, pattern)) }}
{%- endmacro %}

{% macro default__not_matching(value, pattern) -%}
    {{ value }} !~ '{{ pattern }}'
{%- endmacro %}

{% macro spark__not_matching(value, pattern) -%}
    not {{ value }} rlike '{{ pattern }}'
{%- endmacro %}

{#
    A JSON number (staging's numeric) outside [minimum, maximum]. Spark's null: a number too
    large for staging's decimal (safe_casts.sql, spark__json_number), so out of range too.
#}
{% macro number_outside(value, minimum, maximum) -%}
    {{ return(adapter.dispatch('number_outside', 'clickstream')(value, minimum, maximum)) }}
{%- endmacro %}

{% macro default__number_outside(value, minimum, maximum) -%}
    {{ value }} not between {{ minimum }} and {{ maximum }}
{%- endmacro %}

{% macro spark__number_outside(value, minimum, maximum) -%}
    coalesce({{ value }} not between {{ minimum }} and {{ maximum }}, true)
{%- endmacro %}

{#
    A JSON number with a fraction. PostgreSQL's numeric keeps the number's written digits, so
    12.0 has one. Spark's staging gives null for any number not written as an integer
    (spark__json_integer in safe_casts.sql), and a value with a fraction.
#}
{% macro not_an_integer(value) -%}
    {{ return(adapter.dispatch('not_an_integer', 'clickstream')(value)) }}
{%- endmacro %}

{% macro default__not_an_integer(value) -%}
    {{ value }}::text !~ '^-?[0-9]+$'
{%- endmacro %}

{% macro spark__not_an_integer(value) -%}
    coalesce({{ value }} <> floor({{ value }}), true)
{%- endmacro %}
