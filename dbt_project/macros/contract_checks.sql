{#
    contract_violation(payload, path, kind, ...): a SQL expression that is null when the field
    at `path` (dotted, e.g. 'context.product.price') obeys event contract v1, else a one-line
    reason such as 'context.product.price: must be a number between 0 and 1000000000'.

    It mirrors clickstream/contract.py (the ingest Lambda's validator): a field is only checked
    when its parent is a JSON object; `required` fields must be present; fields that are not
    `nullable` must not be JSON null; then the kind's rule. CASE branches run in order, so a
    cast only ever sees a value of the right JSON type.
#}
{% macro contract_violation(
    payload, path, kind, required=false, nullable=false, max_length=none,
    choices=none, minimum=none, maximum=none
) -%}
    {%- set parts = path.split('.') -%}
    {%- set key = parts[-1] -%}
    {%- if parts | length == 1 -%}
        {%- set parent = payload -%}
    {%- else -%}
        {%- set parent = "(" ~ payload ~ " #> '{" ~ parts[:-1] | join(',') ~ "}')" -%}
    {%- endif -%}
    {%- set value = "(" ~ parent ~ " -> '" ~ key ~ "')" -%}
    {%- set text = "(" ~ value ~ " #>> '{}')" -%}
    case
        when jsonb_typeof({{ parent }}) is distinct from 'object' then null
        when {{ value }} is null
            then {{ "'" ~ path ~ ": is required'" if required else "null" }}
        when jsonb_typeof({{ value }}) = 'null'
            then {{ "null" if nullable else "'" ~ path ~ ": must not be null'" }}
    {%- if kind == 'string' %}
        when jsonb_typeof({{ value }}) <> 'string' then '{{ path }}: must be a string'
        {%- if required %}
        when {{ text }} = '' then '{{ path }}: must not be empty'
        {%- endif %}
        {%- if max_length %}
        when length({{ text }}) > {{ max_length }}
            then '{{ path }}: must be at most {{ max_length }} characters'
        {%- endif %}
    {%- elif kind == 'uuid' %}
        when jsonb_typeof({{ value }}) <> 'string'
            or {{ text }} !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
            then '{{ path }}: must be a UUID'
    {%- elif kind == 'timestamp' %}
        when jsonb_typeof({{ value }}) <> 'string'
            or not {{ is_rfc3339(text) }}
            then '{{ path }}: must be an RFC 3339 timestamp with an offset'
    {%- elif kind == 'enum' %}
        when jsonb_typeof({{ value }}) <> 'string'
            or {{ text }} not in ('{{ choices | join("', '") }}')
            then '{{ path }}: must be one of {{ choices | join(", ") }}'
    {%- elif kind == 'boolean' %}
        when jsonb_typeof({{ value }}) <> 'boolean' then '{{ path }}: must be true or false'
    {%- elif kind == 'number' %}
        when jsonb_typeof({{ value }}) <> 'number'
            then '{{ path }}: must be a number between {{ minimum }} and {{ maximum }}'
        when ({{ value }})::numeric not between {{ minimum }} and {{ maximum }}
            then '{{ path }}: must be a number between {{ minimum }} and {{ maximum }}'
    {%- elif kind == 'integer' %}
        when jsonb_typeof({{ value }}) <> 'number' or {{ text }} !~ '^-?[0-9]+$'
            then '{{ path }}: must be an integer between {{ minimum }} and {{ maximum }}'
        when ({{ value }})::numeric not between {{ minimum }} and {{ maximum }}
            then '{{ path }}: must be an integer between {{ minimum }} and {{ maximum }}'
    {%- elif kind == 'currency' %}
        when jsonb_typeof({{ value }}) <> 'string' or {{ text }} !~ '^[A-Z]{3}$'
            then '{{ path }}: must be a three-letter ISO 4217 code'
    {%- elif kind == 'object' %}
        when jsonb_typeof({{ value }}) <> 'object' then '{{ path }}: must be an object'
    {%- else %}
        {{ exceptions.raise_compiler_error("contract_violation: unknown kind " ~ kind) }}
    {%- endif %}
    end
{%- endmacro %}
