{#
    The lower bound of `loaded_at` an incremental run reads from. On PostgreSQL, when the model
    has a record of what its last run processed (macros/safe_point.sql), that record: exact,
    with nothing to re-read. Otherwise the lookback rule, lookback_window_start. `relation` is
    the running model's `this`; macros/README.md has the whole state machine.
#}
{% macro loaded_at_window_start(relation, column=none) -%}
    {%- set processed = processed_through_start() if relation.identifier == this.identifier else none -%}
    {%- if processed is not none -%}
        {{ return(processed) }}
    {%- endif -%}
    {{ return(lookback_window_start(relation, column)) }}
{%- endmacro %}

{#
    The lookback rule: the newest loader time already in `relation` (its `column`; by default
    the running model's watermark column) minus the lookback var (dbt_project.yml says why
    the lookback exists).
#}
{% macro lookback_window_start(relation, column=none) -%}
    {%- set column = column or watermark_column(model) -%}
    {{ return(adapter.dispatch('lookback_window_start', 'clickstream')(relation, column)) }}
{%- endmacro %}

{% macro default__lookback_window_start(relation, column) -%}
    {%- set query -%}
        select
            coalesce(max({{ column }}), '-infinity'::timestamptz)
            - interval '{{ var("loaded_at_lookback") }}' as window_start
        from {{ relation }}
    {%- endset -%}
    {#-
        Read before the model runs, so the model gets a literal: with a subquery the planner
        cannot estimate how few rows the filter keeps and scans the whole history. (A unit
        test's `this` is a fixture, not a table: there the subquery stays.)
    -#}
    {%- if execute and model.resource_type == 'model' -%}
        '{{ run_query('select (' ~ query ~ ')::text').rows[0][0] }}'::timestamptz
    {%- else -%}
        ({{ query }})
    {%- endif -%}
{%- endmacro %}

{#
    Spark: the same literal (partition and file pruning need one too). Spark has no
    -infinity: an empty table gives earliest_timestamp() itself, before any loader time.
#}
{% macro spark__lookback_window_start(relation, column) -%}
    {%- set query -%}
        select {{ minus_lookback('max(' ~ column ~ ')') }} as window_start
        from {{ relation }}
    {%- endset -%}
    {%- if execute and model.resource_type == 'model' -%}
        {%- set found = run_query('select ' ~ text_of('(' ~ query ~ ')')).rows[0][0] -%}
        {{ timestamp_literal(found) if found is not none else earliest_timestamp() }}
    {%- else -%}
        coalesce(({{ query }}), {{ earliest_timestamp() }})
    {%- endif -%}
{%- endmacro %}

{#
    invalid_events' window start. Invalid lines are rare, so its newest row can be days old: its
    own watermark would make every run re-read (and classify again) all the raw lines loaded
    since. So the model records, after each run, the newest `loaded_at` of the raw table as it
    read it (record_read_through, a post-hook in the model's transaction), and the next run
    starts from the later of the two, minus the lookback. It does not borrow
    clickstream_events' watermark: the two models run side by side, and a build may run one
    without the other.
#}
{% macro read_through_table() -%}
    dbt_intermediate.raw_lines_read_through
{%- endmacro %}

{#
    on-run-start: a bookkeeping table of one loader time per relation, created once (this
    one, and macros/checked_windows.sql's record of what passed the data tests).
#}
{% macro create_loaded_at_record(table) -%}
    {{ return(adapter.dispatch('create_loaded_at_record', 'clickstream')(table)) }}
{%- endmacro %}

{% macro default__create_loaded_at_record(table) -%}
    create schema if not exists dbt_intermediate;
    create table if not exists {{ table }} (
        relation_name text primary key,
        loaded_at timestamptz not null
    );
{%- endmacro %}

{#
    Spark: Parquet tables have no keys and no UPDATE or DELETE, so the record is partitioned by
    relation_name and a writer overwrites its relation's partition (insert overwrite).
#}
{% macro spark__create_loaded_at_record(table) -%}
    {{ return(hook_statements([
        'create schema if not exists ' ~ table.split('.')[0],
        'create table if not exists ' ~ table ~ ' (loaded_at timestamp, relation_name string)'
        ~ ' using parquet partitioned by (relation_name)',
    ])) }}
{%- endmacro %}

{#
    `exact`: the model's record of what it has processed, when it has one (the read-through
    adds nothing to it); the post-hook that keeps the read-through up to date asks without.
#}
{% macro read_through_window_start(exact=true) -%}
    {%- set processed = processed_through_start() if exact else none -%}
    {%- if processed is not none -%}
        {{ return(processed) }}
    {%- endif -%}
    {%- set own = lookback_window_start(this) -%}
    {#- a literal, as in lookback_window_start; the table exists once a build has started -#}
    {%- if not execute or model.resource_type != 'model' -%}
        {{ return(own) }}
    {%- endif -%}
    {%- if not bookkeeping_table_exists(read_through_table()) -%}
        {{ return(own) }}
    {%- endif -%}
    {%- set found = run_query(
        "select " ~ text_of(minus_lookback('loaded_at'))
        ~ " from " ~ read_through_table()
        ~ " where relation_name = '" ~ this.identifier ~ "'").rows -%}
    {%- if found | length == 0 -%}
        {{ return(own) }}
    {%- endif -%}
    greatest({{ own }}, {{ timestamp_literal(found[0][0]) }})
{%- endmacro %}

{#
    The post-hook: the newest loaded_at of the raw lines. Taken after the model's insert, so it
    may include lines committed meanwhile that the insert did not see: they are at most as old
    as that newest loaded_at, within the lookback the next run re-reads. Looked for from the
    window's start only: the raw table's index on loaded_at is a BRIN index, which cannot
    give a max() without reading every line before it.
#}
{% macro record_read_through() -%}
    {{ return(adapter.dispatch('record_read_through', 'clickstream')()) }}
{%- endmacro %}

{% macro default__record_read_through() -%}
    insert into {{ read_through_table() }} (relation_name, loaded_at)
    select '{{ this.identifier }}', max(loaded_at)
    from {{ source('clickstream', 'raw_events') }}
    where loaded_at >= {{ read_through_window_start(exact=false) }}
    having max(loaded_at) is not null
    on conflict (relation_name) do update set loaded_at = excluded.loaded_at
{%- endmacro %}

{#
    Spark: overwrite the model's partition of the record, only when there is a newest loaded_at
    (an empty overwrite would erase the record, where PostgreSQL's upsert keeps it).
#}
{% macro spark__record_read_through() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set newest = run_query(
        "select " ~ text_of('max(loaded_at)')
        ~ " from " ~ source('clickstream', 'raw_events')
        ~ " where loaded_at >= " ~ read_through_window_start(exact=false)).rows[0][0] -%}
    {%- if newest is none -%}
        {{ return('') }}
    {%- endif -%}
    insert overwrite table {{ read_through_table() }}
    partition (relation_name = '{{ this.identifier }}')
    select {{ timestamp_literal(newest) }}
{%- endmacro %}

{#
    The distinct values of `expression` (as text) among the rows of clickstream_events loaded
    since `window_start`, read before the model runs. Written into the model's SQL as literals
    they tell the planner how few keys a run touches: joined from a subquery, it guessed
    thousands of hours where there were seven, and sorted the whole table to find them.
#}
{% macro touched_values(expression, window_start) -%}
    {{ return(query_values(
        "select distinct " ~ text_of(expression) ~ " from " ~ ref('clickstream_events')
        ~ " where loaded_at >= " ~ window_start ~ " order by 1")) }}
{%- endmacro %}

{# The first column of `query`'s rows, run before the model ([] when dbt only parses). #}
{% macro query_values(query) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set values = [] -%}
    {%- for row in run_query(query).rows -%}
        {%- do values.append(row[0]) -%}
    {%- endfor -%}
    {{ return(values) }}
{%- endmacro %}

{#
    Literals for touched_values' results. (Macros, not loops in the models: sqlfluff cannot
    map a model's `{% for %} ... {% else %}` back to its source, and skips the file.)
    within_hours: `column` within one of the whole UTC `hours`, as ranges an index can serve
    (false when there are none); date_literals: the `dates` for an `in (...)` (null when none).
#}
{% macro within_hours(column, hours) -%}
    {%- for hour in hours %}
    ({{ column }} >= {{ timestamp_literal(hour) }}
        and {{ column }} < {{ timestamp_literal(hour) }} + interval '1 hour')
    {{- ' or' if not loop.last }}
    {%- else -%}
    false
    {%- endfor -%}
{%- endmacro %}

{% macro date_literals(dates) -%}
    {%- for day in dates -%}
    {{ date_literal(day) }}{{ ', ' if not loop.last }}
    {%- else -%}
    null
    {%- endfor -%}
{%- endmacro %}

{#
    The dates a session-date mart (fct_funnel_daily, fct_traffic_daily) recomputes in an
    incremental run, as the CTE `touched_dates` (column session_date), after the CTEs `events`
    and `touched_sessions` it needs. The caller defines the CTE `sessions` (fct_sessions). The
    dates are those of every counted event of the sessions fct_sessions rebuilt since the
    mart's last run: a late event that moves a session's start to another day touches both
    days (a day left empty comes out with zero sessions, and the mart's post-hook deletes it).
#}
{% macro touched_session_dates() -%}
    -- the events fct_sessions counts (macros/consent.sql)
    events as (
        select * from {{ ref('clickstream_events') }}
        where {{ counted_in_marts() }}
    ),

    touched_sessions as (
        select session_id
        from sessions
        where last_loaded_at >= {{ loaded_at_window_start(this) }}
    ),

    touched_dates as (
        select distinct events.event_date as session_date
        from events
        inner join touched_sessions
            on events.session_id = touched_sessions.session_id
    )
{%- endmacro %}
