{#
    A model's custom schema is used as it is (`dbt_staging`, not `public_dbt_staging`), so
    that dbt's layers never mix with the loader-owned schema `staging`; models without one
    go to the target schema (`public`).
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
