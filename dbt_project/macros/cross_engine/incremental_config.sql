{#
    How an incremental model replaces the rows it recomputes, per engine (issue 12). A model
    declares it once, engine-neutrally:

        {{ config(**incremental_config(
            unique_key='session_id', partition_by='session_date',
            meta={'watermark_column': 'last_loaded_at', ...},
            indexes=[...], empty_rows='sessions = 0',
        )) }}
        ...
        {{ incremental_result('final') }}

    - PostgreSQL (default__): the project's original config, unchanged: delete+insert on
      `unique_key`, `indexes`, and for `empty_rows` the post-hook
      `delete from <this> where <empty_rows>` (a key left with nothing to count comes out as an
      empty row, replacing its old one, and is then deleted). incremental_result() is
      `select * from final`.
    - Spark (spark__): Parquet has no DELETE, so delete+insert becomes insert_overwrite of
      whole partitions of `partition_by` (a date column; dynamic partition overwrite replaces
      exactly the partitions the query returns rows for). incremental_result() then returns,
      for every partition the recomputed keys are in or were in, its WHOLE new content: the
      recomputed rows (less the `empty_rows`) plus the table's other rows of that partition,
      which no new event touched, as they are. A partition left with no row at all gets one
      marker row (every column null but the partition column) and the post-hook
      drop_emptied_partitions() drops it: an overwrite cannot empty a partition. So every
      run leaves the same rows as PostgreSQL's delete+insert and post-hook.
      A model with no date column (partition_by=none: the dimensions dim_products, dim_users,
      int_user_identity) is a plain table on Spark, rebuilt whole each run: Spark cannot
      overwrite a table it reads, and without partitions the whole table would be overwritten.
    `indexes` exist on PostgreSQL only. `meta` goes to both (the watermark and built-with vars).
#}
{% macro incremental_config(
    unique_key, meta, partition_by=none, indexes=none, empty_rows=none
) -%}
    {{ return(adapter.dispatch('incremental_config', 'clickstream')(
        unique_key, meta, partition_by, indexes, empty_rows)) }}
{%- endmacro %}

{% macro default__incremental_config(unique_key, meta, partition_by, indexes, empty_rows) -%}
    {%- set settings = {
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': unique_key,
        'on_schema_change': 'fail',
        'meta': meta,
    } -%}
    {%- if indexes -%}
        {%- do settings.update({'indexes': indexes}) -%}
    {%- endif -%}
    {%- if empty_rows -%}
        {%- do settings.update({'post_hook': 'delete from {{ this }} where ' ~ empty_rows}) -%}
    {%- endif -%}
    {{ return(settings) }}
{%- endmacro %}

{% macro spark__incremental_config(unique_key, meta, partition_by, indexes, empty_rows) -%}
    {%- set spark_meta = dict(meta) -%}
    {%- do spark_meta.update({'empty_rows': empty_rows}) -%}
    {%- if partition_by is none -%}
        {{ return({
            'materialized': 'table',
            'file_format': 'parquet',
            'unique_key': unique_key,
            'meta': spark_meta,
        }) }}
    {%- endif -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'insert_overwrite',
        'file_format': 'parquet',
        'partition_by': partition_by,
        'unique_key': unique_key,
        'on_schema_change': 'fail',
        'meta': spark_meta,
        'post_hook': '{{ drop_emptied_partitions() }}',
    }) }}
{%- endmacro %}

{#
    The model's last statement: the rows of the CTE `relation` (its `final`), as the engine's
    incremental strategy needs them (see above).
#}
{% macro incremental_result(relation) -%}
    {{ return(adapter.dispatch('incremental_result', 'clickstream')(relation)) }}
{%- endmacro %}

{% macro default__incremental_result(relation) -%}
    select * from {{ relation }}
{%- endmacro %}

{% macro spark__incremental_result(relation) -%}
    {%- set empty_rows = (config.get('meta') or {}).get('empty_rows') -%}
    {%- set kept_rows = 'not coalesce(' ~ empty_rows ~ ', false)' if empty_rows else 'true' -%}
    {%- if not is_incremental() or not execute or model.resource_type != 'model' -%}
        select * from {{ relation }} where {{ kept_rows }}
    {%- else -%}
        {%- set partition = config.get('partition_by') -%}
        {%- set keys = config.get('unique_key') -%}
        {%- set keys = [keys] if keys is string else keys -%}
        {%- set columns = adapter.get_columns_in_relation(this) -%}
        {%- set column_list = columns | map(attribute='name') | join(', ') -%}
        {%- set same_key = [] -%}
        {%- for key in keys -%}
            {%- do same_key.append('table_row.' ~ key ~ ' = recomputed.' ~ key) -%}
        {%- endfor %}
        select {{ column_list }} from (
            with recomputed as (
                select * from {{ relation }}
            ),

            -- every partition a recomputed key is in now or was in before (a key that
            -- holds the partition column cannot have moved)
            touched_partitions as (
                select distinct {{ partition }} from recomputed
                {%- if partition not in keys %}
                union
                select table_row.{{ partition }}
                from {{ this }} as table_row
                left semi join recomputed on {{ same_key | join(' and ') }}
                {%- endif %}
            ),

            -- their rows no recomputed key replaces: unchanged (none when the key is the
            -- partition: its recomputed keys are whole partitions)
            untouched as (
                select table_row.*
                from {{ this }} as table_row
                left anti join recomputed on {{ same_key | join(' and ') }}
                where
                    {{ 'false and' if keys == [partition] }}
                    table_row.{{ partition }} in (
                        select touched_partitions.{{ partition }} from touched_partitions
                    )
            ),

            replaced as (
                select {{ column_list }} from recomputed where {{ kept_rows }}
                union all
                select {{ column_list }} from untouched
            )

            select {{ column_list }} from replaced
            union all
            -- a touched partition left with no row: its marker (drop_emptied_partitions)
            select
                {%- for column in columns %}
                {% if column.name == partition -%}
                    touched_partitions.{{ partition }}
                {%- else -%}
                    cast(null as {{ column.data_type }}) as {{ column.name }}
                {%- endif %}{{ ',' if not loop.last }}
                {%- endfor %}
            from touched_partitions
            left anti join replaced
                on touched_partitions.{{ partition }} = replaced.{{ partition }}
        )
    {%- endif -%}
{%- endmacro %}

{#
    Spark's post-hook: drop the partitions incremental_result() marked as left empty (their
    marker: every column null but the partition column, which no real row of a mart is). Runs
    the drops itself, one statement each; the hook is left empty.
#}
{% macro drop_emptied_partitions() -%}
    {%- if not execute or not is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set partition = config.get('partition_by') -%}
    {%- set all_null = [] -%}
    {%- for column in adapter.get_columns_in_relation(this) if column.name != partition -%}
        {%- do all_null.append(column.name ~ ' is null') -%}
    {%- endfor -%}
    {%- set found = run_query(
        'select distinct ' ~ text_of(partition) ~ ' from ' ~ this
        ~ ' where ' ~ all_null | join(' and ')) -%}
    {%- set drops = [] -%}
    {%- for row in found.rows -%}
        {%- do drops.append(
            'alter table ' ~ this ~ ' drop if exists partition (' ~ partition ~ " = '"
            ~ row[0] ~ "')") -%}
    {%- endfor -%}
    {{ return(hook_statements(drops)) }}
{%- endmacro %}
