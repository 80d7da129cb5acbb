{#
    Data tests check the rows a build changed, not the whole history (design rule: the hourly
    run costs in proportion to the new data). Every mart keeps the loader time of its newest
    input (`loaded_at` or `last_loaded_at`), and every row an incremental run inserts or
    recomputes has that time at or after the run's window start (macros/incremental_window.sql).
    So after a build in which every model and test succeeded, `dbt_intermediate.tests_passed_through`
    records each mart's newest time; the next build's data tests check the rows at or after
    that time minus the lookback. A failed build records nothing: its rows are checked again by
    the next build until they pass. A full refresh, a first build and `--vars
    '{full_checks: true}'` check every row. The whole state machine: macros/README.md.
#}

{#
    The column that holds the loader time of the newest input behind each row of `node`, a
    model: its `watermark_column` meta, declared once in its config() (macros/README.md).
    Every incremental model must declare one; without it a mart's tests would check every row
    or none, and its incremental window would have no column to start from.
#}
{% macro watermark_column(node) -%}
    {#- parsing: a model's config() is not read yet, and no SQL runs -#}
    {%- if not execute -%}
        {{ return('loaded_at') }}
    {%- endif -%}
    {%- if node.resource_type == 'unit_test' -%}
        {{ exceptions.raise_compiler_error(
            "Unit test '" ~ node.name ~ "' runs an incremental model's SQL but cannot read the"
            ~ " model's config (dbt gives unit tests no graph): add `watermark_column: <column>`"
            ~ " next to `is_incremental: true` in its overrides: macros.") }}
    {%- endif -%}
    {%- set column = (node.config.meta or {}).get('watermark_column') -%}
    {%- if not column -%}
        {{ exceptions.raise_compiler_error(
            "Model '" ~ node.name ~ "' is incremental but declares no watermark column. Add"
            ~ " meta={'watermark_column': '<column>'} to its config(), <column> being the one"
            ~ " that holds the loader time of the row's newest input (loaded_at or"
            ~ " last_loaded_at): see dbt_project/macros/README.md.") }}
    {%- endif -%}
    {{ return(column) }}
{%- endmacro %}

{#
    Each incremental model of this project and its watermark column, keyed by the model's
    relation (`schema.identifier`), read from the graph: a new mart joins by declaring it.
#}
{% macro checked_window_columns() -%}
    {%- set columns = {} -%}
    {#- parsing: the graph is not built yet -#}
    {%- if not execute -%}
        {{ return(columns) }}
    {%- endif -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.package_name == project_name
        and node.config.materialized == 'incremental' -%}
        {%- do columns.update({node.schema ~ '.' ~ node.alias: watermark_column(node)}) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{#
    on-run-start: stop any run, build or test at once, with the message above, when an
    incremental model declares no watermark column (even a model that has no data test).
#}
{% macro check_watermark_columns() -%}
    {%- do checked_window_columns() -%}
{%- endmacro %}

{% macro tests_passed_through_table() -%}
    dbt_intermediate.tests_passed_through
{%- endmacro %}


{#
    The first loader time the data tests of `identifier` must check, as a SQL literal:
    earliest_timestamp() for a full check. Read when the test runs, so a literal the planner can
    use with the marts' indexes on loaded_at / last_loaded_at.
#}
{% macro checked_window_start(identifier) -%}
    {%- if not execute or flags.FULL_REFRESH or var('full_checks', false) -%}
        {{ return(earliest_timestamp()) }}
    {%- endif -%}
    {#- compiled outside a build (sqlfluff, docs), the table may not exist yet -#}
    {%- if not bookkeeping_table_exists(tests_passed_through_table()) -%}
        {{ return(earliest_timestamp()) }}
    {%- endif -%}
    {%- set found = run_query(
        "select " ~ text_of(minus_lookback('loaded_at'))
        ~ " from " ~ tests_passed_through_table()
        ~ " where relation_name = '" ~ identifier ~ "'") -%}
    {%- if found.rows | length == 0 -%}
        {{ return(earliest_timestamp()) }}
    {%- endif -%}
    {{ return(timestamp_literal(found.rows[0][0])) }}
{%- endmacro %}

{#
    dbt wraps the model of every generic test in this macro (its own version applies the
    test's `where` config). A mart's tests also keep to the rows at or after its window start.
#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set column = checked_window_columns().get(relation.schema ~ '.' ~ relation.identifier)
    -%}
    {%- if column -%}
        {%- set start = checked_window_start(relation.identifier) -%}
        {%- if start != earliest_timestamp() -%}
            {%- do conditions.append(column ~ ' >= ' ~ start) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return(
            '(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ')
            ~ ') as dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#
    on-run-end: after a `dbt build` in which nothing failed, errored or was skipped, record
    the newest loader time of each mart whose data tests ran (an empty mart records nothing).
#}
{% macro record_tests_passed_through(results) -%}
    {%- if not execute or flags.WHICH != 'build' -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tested = [] -%}
    {%- for result in results -%}
        {#- no-op: the dashboards' exposure, which has nothing to run -#}
        {%- if result.status not in ('success', 'pass', 'warn', 'no-op') -%}
            {{ return('') }}
        {%- endif -%}
        {%- if result.node.resource_type == 'test' -%}
            {%- do tested.extend(result.node.depends_on.nodes) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set columns = checked_window_columns() -%}
    {%- set statements = [] -%}
    {%- for result in results
        if result.node.resource_type == 'model'
        and (result.node.schema ~ '.' ~ result.node.alias) in columns
        and result.node.unique_id in tested -%}
        {%- do statements.extend(replace_tests_passed_through(
            result.node.name, columns[result.node.schema ~ '.' ~ result.node.alias],
            result.node.relation_name)) -%}
    {%- endfor -%}
    {{ return(hook_statements(statements)) }}
{%- endmacro %}

{#
    The statements that replace the record of `name` with the newest `column` of `relation`
    (none when the relation is empty).
#}
{% macro replace_tests_passed_through(name, column, relation) -%}
    {{ return(adapter.dispatch('replace_tests_passed_through', 'clickstream')(
        name, column, relation)) }}
{%- endmacro %}

{% macro default__replace_tests_passed_through(name, column, relation) -%}
    {{ return([
        "delete from " ~ tests_passed_through_table() ~ " where relation_name = '" ~ name ~ "'",
        "insert into " ~ tests_passed_through_table() ~ " (relation_name, loaded_at)"
        ~ " select '" ~ name ~ "', max(" ~ column ~ ") from " ~ relation
        ~ " having max(" ~ column ~ ") is not null",
    ]) }}
{%- endmacro %}

{# Spark: one overwrite of the relation's partition; no row (an empty mart) empties it. #}
{% macro spark__replace_tests_passed_through(name, column, relation) -%}
    {{ return([
        "insert overwrite table " ~ tests_passed_through_table()
        ~ " partition (relation_name = '" ~ name ~ "')"
        ~ " select max(" ~ column ~ ") from " ~ relation
        ~ " having max(" ~ column ~ ") is not null",
    ]) }}
{%- endmacro %}
