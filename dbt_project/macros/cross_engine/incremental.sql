{#
    What the incremental models of the core layer need besides incremental_config() and
    incremental_result() (cross_engine/incremental_config.sql): a partition column on Spark
    only, and the casts to the contract's types.
#}

{#
    The partition column a model adds on Spark only: the UTC date of `timestamp` as `name`,
    after the model's last column (so it starts with a comma). Nothing on PostgreSQL.
#}
{% macro spark_partition_date(timestamp, name) -%}
    {{ return(adapter.dispatch('spark_partition_date', 'clickstream')(timestamp, name)) }}
{%- endmacro %}

{% macro default__spark_partition_date(timestamp, name) -%}
{%- endmacro %}

{% macro spark__spark_partition_date(timestamp, name) -%}
    , to_date({{ timestamp }}) as {{ name }}
{%- endmacro %}

{#
    Casts to the types of the PostgreSQL model contracts, named as PostgreSQL names them
    (text, timestamptz, numeric(12, 2), jsonb...): Spark's equivalents (a TIMESTAMP is an instant
    shown in UTC; a JSON document is kept as its text).
#}
{% macro cast_to(expression, type) -%}
    {{ return(adapter.dispatch('cast_to', 'clickstream')(expression, type)) }}
{%- endmacro %}

{% macro default__cast_to(expression, type) -%}
    {{ expression }}::{{ type }}
{%- endmacro %}

{% macro spark__cast_to(expression, type) -%}
    {#- a bare numeric has no fixed scale on PostgreSQL: type_numeric() keeps the fractions -#}
    {%- set spark_types = {
        'text': 'string', 'timestamptz': 'timestamp', 'integer': 'int', 'jsonb': 'string',
        'numeric': spark__type_numeric(),
    } -%}
    {%- set spark_type = spark_types.get(type, type | replace('numeric', 'decimal')) -%}
    cast({{ expression }} as {{ spark_type }})
{%- endmacro %}
