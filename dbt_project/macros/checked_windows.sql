{#
    Data tests check the rows a build changed, not the whole history (design rule: the hourly
    run costs in proportion to the new data). Every mart keeps the loader time of its newest
    input (`loaded_at` or `last_loaded_at`), and every row an incremental run inserts or
    recomputes has that time at or after the run's window start (macros/incremental_window.sql).
    So after a build in which every model and test succeeded, `dbt_intermediate.tests_passed_through`
    records each mart's newest time; the next build's data tests check the rows at or after
    that time minus the lookback. A failed build records nothing: its rows are checked again by
    the next build until they pass. A full refresh, a first build and `--vars
    '{full_checks: true}'` check every row.
#}

{# Each mart and the column that holds the loader time of its newest input. #}
{% macro checked_window_columns() -%}
    {{ return({
        'clickstream_events': 'loaded_at',
        'invalid_events': 'loaded_at',
        'fct_sessions': 'last_loaded_at',
        'fct_funnel_daily': 'last_loaded_at',
        'dim_products': 'last_loaded_at',
        'fct_product_performance_daily': 'last_loaded_at',
        'fct_activity_hourly': 'last_loaded_at',
        'fct_activity_daily': 'last_loaded_at',
    }) }}
{%- endmacro %}

{% macro tests_passed_through_table() -%}
    dbt_intermediate.tests_passed_through
{%- endmacro %}


{#
    The first loader time the data tests of `identifier` must check, as a SQL literal:
    '-infinity' for a full check. Read when the test runs, so a literal the planner can use
    with the marts' indexes on loaded_at / last_loaded_at.
#}
{% macro checked_window_start(identifier) -%}
    {%- if not execute or flags.FULL_REFRESH or var('full_checks', false) -%}
        {{ return("'-infinity'::timestamptz") }}
    {%- endif -%}
    {#- compiled outside a build (sqlfluff, docs), the table may not exist yet -#}
    {%- set exists = run_query(
        "select to_regclass('" ~ tests_passed_through_table() ~ "') is not null") -%}
    {%- if not exists.rows[0][0] -%}
        {{ return("'-infinity'::timestamptz") }}
    {%- endif -%}
    {%- set found = run_query(
        "select (loaded_at - interval '" ~ var('loaded_at_lookback') ~ "')::text"
        ~ " from " ~ tests_passed_through_table()
        ~ " where relation_name = '" ~ identifier ~ "'") -%}
    {%- if found.rows | length == 0 -%}
        {{ return("'-infinity'::timestamptz") }}
    {%- endif -%}
    {{ return("'" ~ found.rows[0][0] ~ "'::timestamptz") }}
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
    {%- set column = checked_window_columns().get(relation.identifier) -%}
    {%- if column and relation.schema == target.schema -%}
        {%- set start = checked_window_start(relation.identifier) -%}
        {%- if start != "'-infinity'::timestamptz" -%}
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
    {%- for result in results
        if result.node.resource_type == 'model' and result.node.name in columns
        and result.node.unique_id in tested %}
        {%- set column = columns[result.node.name] %}
        delete from {{ tests_passed_through_table() }}
        where relation_name = '{{ result.node.name }}';
        insert into {{ tests_passed_through_table() }} (relation_name, loaded_at)
        select '{{ result.node.name }}', max({{ column }})
        from {{ result.node.relation_name }}
        having max({{ column }}) is not null;
    {%- endfor %}
{%- endmacro %}
