{#
    "A var the table was built with": some vars change what every row of a mart means (the
    reporting currency, whether non-consented events count). An incremental run only rewrites
    the rows it touches, so running one with such a var changed would mix rows built both ways.
    These macros make it refuse, and say to rebuild with a full refresh.

    Two ways to know what a table was built with:
    - a column that holds it (fct_product_performance_daily's `currency`): currency.sql reads
      one row and calls refuse_changed_var();
    - the record `dbt_intermediate.built_with_vars` (one row per mart and var), written by the
      marts' post-hook record_built_with_vars() whenever a mart is built whole (first build or
      full refresh), for each var its config names in `meta={'built_with_vars': [...]}`;
      check_built_with_vars() compares it with the var in the mart's incremental branch.
#}

{% macro built_with_vars_table() -%}
    dbt_intermediate.built_with_vars
{%- endmacro %}

{# on-run-start: the record exists before any mart is built or checked. #}
{% macro create_built_with_vars_record() -%}
    {{ return(adapter.dispatch('create_built_with_vars_record', 'clickstream')()) }}
{%- endmacro %}

{% macro default__create_built_with_vars_record() -%}
    create schema if not exists dbt_intermediate;
    create table if not exists {{ built_with_vars_table() }} (
        relation_name text not null,
        var_name text not null,
        var_value text not null,
        primary key (relation_name, var_name)
    );
{%- endmacro %}

{# Spark: no keys on Parquet; one partition per mart and var, overwritten by its writer. #}
{% macro spark__create_built_with_vars_record() -%}
    {{ return(hook_statements([
        'create schema if not exists dbt_intermediate',
        'create table if not exists ' ~ built_with_vars_table()
        ~ ' (var_value string, relation_name string, var_name string)'
        ~ ' using parquet partitioned by (relation_name, var_name)',
    ])) }}
{%- endmacro %}

{# The vars `this` mart declares it is built with (its config's meta.built_with_vars). #}
{% macro declared_built_with_vars() -%}
    {%- set meta = model.config.get('meta', {}) if model.config is mapping else {} -%}
    {{ return(meta.get('built_with_vars', []) if meta is mapping else []) }}
{%- endmacro %}

{# A var's value as the record keeps it: JSON text, so true/false and strings compare alike. #}
{% macro built_with_text(value) -%}
    {{ return(tojson(value)) }}
{%- endmacro %}

{#
    The error for an incremental run whose var differs from the one the table was built with.
    `built_as` says it in the table's terms ("holds revenue in EUR"); by default "was built
    with <var> = <value>". `current`: the var as the message shows it (default: as it is).
#}
{% macro refuse_changed_var(var_name, built_value, built_as=none, current=none) -%}
    {{ exceptions.raise_compiler_error(
        this ~ " " ~ (built_as or "was built with " ~ var_name ~ " = " ~ built_value)
        ~ " but var " ~ var_name ~ " is " ~ (current or var(var_name))
        ~ ": an incremental run would mix"
        ~ " rows built both ways. Rebuild it with a full refresh (set the var in"
        ~ " dbt_project.yml, then `make dbt-full-refresh`).") }}
{%- endmacro %}

{#
    In a mart's incremental branch: stop unless every var it declares has the value it was
    built with. A mart with no record for a var was built before the var existed: `unrecorded`
    says what each var's value was then (the behaviour every mart had before it).
    (A unit test's `this` is a fixture: nothing to check.)
#}
{% macro check_built_with_vars(unrecorded={'consented_data_only': false}) -%}
    {%- if execute and model.resource_type == 'model' -%}
        {%- set recorded = {} -%}
        {%- for row in run_query(
            "select var_name, var_value from " ~ built_with_vars_table()
            ~ " where relation_name = '" ~ this.identifier ~ "'") -%}
            {%- do recorded.update({row[0]: row[1]}) -%}
        {%- endfor -%}
        {%- for var_name in declared_built_with_vars() -%}
            {%- set built = recorded.get(var_name, built_with_text(unrecorded[var_name])) -%}
            {%- set current = built_with_text(var(var_name)) -%}
            {%- if built != current -%}
                {{ refuse_changed_var(var_name, built, current=current) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{# The marts' and intermediate models' post-hook: a build of the whole table records the vars it
   was built with. #}
{% macro record_built_with_vars() -%}
    {%- set var_names = declared_built_with_vars() -%}
    {%- if not is_incremental() and var_names | length > 0 %}
        {%- set statements = [] -%}
        {%- for var_name in var_names %}
            {%- do statements.append(adapter.dispatch('record_built_with_var', 'clickstream')(
                var_name, built_with_text(var(var_name)) | replace("'", "''"))) -%}
        {%- endfor %}
        {{ return(hook_statements(statements)) }}
    {%- endif %}
{%- endmacro %}

{% macro default__record_built_with_var(var_name, quoted_value) -%}
    insert into {{ built_with_vars_table() }} (relation_name, var_name, var_value)
    values (
        '{{ this.identifier }}',
        '{{ var_name }}',
        '{{ quoted_value }}'
    )
    on conflict (relation_name, var_name) do update set var_value = excluded.var_value
{%- endmacro %}

{% macro spark__record_built_with_var(var_name, quoted_value) -%}
    insert overwrite table {{ built_with_vars_table() }}
    partition (relation_name = '{{ this.identifier }}', var_name = '{{ var_name }}')
    select '{{ quoted_value }}'
{%- endmacro %}
