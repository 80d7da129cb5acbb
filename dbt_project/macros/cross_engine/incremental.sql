{#
    How an incremental model is stored and rewritten, per engine: one config from one macro,
    `{{ config(**incremental_config(...)) }}`.

    PostgreSQL: `incremental_strategy` (delete+insert on `unique_key`, or append) and `indexes`,
    as the models always had. Spark (Parquet, no Delta/Iceberg: no MERGE, no DELETE): a model
    with a `partition_by` column is rewritten partition by partition (insert_overwrite, dynamic
    partition overwrite): an incremental run must then give every row of each partition it
    writes (rows_of_written_partitions, whole_partitions_from); a model without one appends.
#}
{% macro incremental_config(
    incremental_strategy, unique_key=none, indexes=[], partition_by=none, meta={}, post_hook=[]
) -%}
    {{ return(adapter.dispatch('incremental_config', 'clickstream')(
        incremental_strategy, unique_key, indexes, partition_by, meta, post_hook)) }}
{%- endmacro %}

{% macro default__incremental_config(
    incremental_strategy, unique_key, indexes, partition_by, meta, post_hook
) -%}
    {%- set settings = {
        'materialized': 'incremental',
        'incremental_strategy': incremental_strategy,
        'on_schema_change': 'fail',
        'meta': meta,
        'post_hook': post_hook,
        'indexes': indexes,
    } -%}
    {%- if unique_key is not none -%}
        {%- do settings.update({'unique_key': unique_key}) -%}
    {%- endif -%}
    {{ return(settings) }}
{%- endmacro %}

{% macro spark__incremental_config(
    incremental_strategy, unique_key, indexes, partition_by, meta, post_hook
) -%}
    {%- set settings = {
        'materialized': 'incremental',
        'incremental_strategy': 'insert_overwrite' if partition_by else 'append',
        'file_format': 'parquet',
        'on_schema_change': 'fail',
        'meta': meta,
        'post_hook': post_hook,
    } -%}
    {%- if partition_by -%}
        {%- do settings.update({'partition_by': [partition_by]}) -%}
    {%- endif -%}
    {{ return(settings) }}
{%- endmacro %}

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
    A model partitioned by the day of the column it filters its window on (int_events_classified
    by load day) reads from the start of the window's day on Spark: its run then gives every row
    of each day it rewrites. PostgreSQL replaces rows by key: the window as it is.
#}
{% macro whole_partitions_from(window_start) -%}
    {{ return(adapter.dispatch('whole_partitions_from', 'clickstream')(window_start)) }}
{%- endmacro %}

{% macro default__whole_partitions_from(window_start) -%}
    {{ window_start }}
{%- endmacro %}

{% macro spark__whole_partitions_from(window_start) -%}
    date_trunc('DAY', {{ window_start }})
{%- endmacro %}

{#
    The rows an incremental run writes, from the CTE `new_rows` (one row per `key`, each the
    row the table must hold for that key). PostgreSQL deletes the table's rows of those keys and
    inserts them (delete+insert). Spark overwrites whole partitions (`partition` column): with
    the new rows it gives the rows the table already holds in each partition written (the
    partitions of the new rows and those of the rows they replace) for every other key.
#}
{% macro rows_of_written_partitions(new_rows, key, partition) -%}
    {{ return(adapter.dispatch('rows_of_written_partitions', 'clickstream')(
        new_rows, key, partition)) }}
{%- endmacro %}

{% macro default__rows_of_written_partitions(new_rows, key, partition) -%}
    select * from {{ new_rows }}
{%- endmacro %}

{% macro spark__rows_of_written_partitions(new_rows, key, partition) -%}
    {#-
        A unit test's `this` is a fixture of a few columns: it checks the rows a run brings,
        as on PostgreSQL.
    -#}
    {%- if not is_incremental() or model.resource_type != 'model' -%}
        select * from {{ new_rows }}
    {%- else -%}
        {#- by name: the table holds its partition column last -#}
        {%- set columns = adapter.get_columns_in_relation(this)
            | map(attribute='name') | join(', ') -%}
        select {{ columns }} from {{ new_rows }}
        union all
        select {{ columns }} from {{ this }} as kept
        where
            kept.{{ partition }} in (
                select {{ partition }} from {{ new_rows }}
                union
                select replaced.{{ partition }}
                from {{ this }} as replaced
                inner join {{ new_rows }} as replacing
                    on replaced.{{ key }} = replacing.{{ key }}
            )
            and not exists (
                select 1 from {{ new_rows }} as replacing
                where replacing.{{ key }} = kept.{{ key }}
            )
    {%- endif -%}
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
    {%- set spark_types = {
        'text': 'string', 'timestamptz': 'timestamp', 'integer': 'int', 'jsonb': 'string',
    } -%}
    {%- set spark_type = spark_types.get(type, type | replace('numeric', 'decimal')) -%}
    cast({{ expression }} as {{ spark_type }})
{%- endmacro %}
