{#
    The run's safe point: a loader time before which every raw line is committed when the run
    starts, so that an incremental model that ran in it has seen every line loaded before it.
    The next run of that model starts reading there, instead of one lookback (1 hour) before
    its newest row: an hourly run re-read the previous hour's load every time.

    `loaded_at` is the loader transaction's now(), i.e. its start. A line with an older
    `loaded_at` than what a run has seen can only come from a transaction that was open when
    the run started; pg_stat_activity names every open transaction's start. So the safe point
    is the earliest start of the transactions open in this database (any client's: a writer
    of raw lines is not told apart from a reader, which only moves the point earlier), else
    the clock; one second earlier still, for a transaction that has begun but not yet shown
    in pg_stat_activity. Never more than the lookback var before the clock: a session left
    idle in a transaction (an analyst's notebook) would otherwise hold every run back, and a
    writer open for longer than the lookback was never covered (dbt_project.yml).

    When pg_stat_activity hides other roles' sessions ('<insufficient privilege>': the dbt
    role is neither their owner nor in pg_read_all_stats), there is no safe point: the models
    keep the lookback. So does Spark, whose loader writes files, not transactions.

    Per model, dbt_intermediate.models_processed_through holds the safe point of the last run
    that built it, capped by its incremental parents' (a `dbt build --select` that ran a mart
    without its parents has not seen what they have not read yet). A model without a record
    (the first run after an upgrade, a run without a safe point) keeps the lookback.
#}
{% macro run_safe_points_table() -%}
    dbt_intermediate.run_safe_points
{%- endmacro %}

{% macro processed_through_table() -%}
    dbt_intermediate.models_processed_through
{%- endmacro %}

{# on-run-start: the two tables, and this run's safe point #}
{% macro record_run_safe_point() -%}
    {{ return(adapter.dispatch('record_run_safe_point', 'clickstream')()) }}
{%- endmacro %}

{% macro default__record_run_safe_point() -%}
    {{ create_loaded_at_record(processed_through_table()) }};
    create table if not exists {{ run_safe_points_table() }} (
        invocation_id text primary key,
        safe_point timestamptz,
        recorded_at timestamptz not null default now()
    );
    delete from {{ run_safe_points_table() }} where recorded_at < now() - interval '7 days';
    insert into {{ run_safe_points_table() }} (invocation_id, safe_point)
    select
        '{{ invocation_id }}',
        case
            when not coalesce(bool_or(query = '<insufficient privilege>'), false)
                then greatest(
                    least(clock_timestamp(), min(xact_start)) - interval '1 second',
                    clock_timestamp() - interval '{{ var("loaded_at_lookback") }}'
                )
        end
    from pg_stat_activity
    where
        pid <> pg_backend_pid()
        and backend_type = 'client backend'
        and datname = current_database()
{%- endmacro %}

{% macro spark__record_run_safe_point() -%}
    {{ return('') }}
{%- endmacro %}

{#
    A post-hook of every model: an incremental model records what it has now processed (the
    run's safe point, capped by its incremental parents' records), or forgets its record when
    there is none to give (no safe point, a parent without a record). In the model's own
    transaction: a model that fails records nothing.
#}
{% macro record_processed_through() -%}
    {%- if not execute or config.get('materialized') != 'incremental' -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(adapter.dispatch('record_processed_through', 'clickstream')(
        incremental_parents(model))) }}
{%- endmacro %}

{% macro default__record_processed_through(parents) -%}
    delete from {{ processed_through_table() }} where relation_name = '{{ this.identifier }}';
    insert into {{ processed_through_table() }} (relation_name, loaded_at)
    select '{{ this.identifier }}', least(run.safe_point, parents.processed_through)
    from {{ run_safe_points_table() }} as run
    cross join (
        select
            min(loaded_at) as processed_through,
            count(*) as records
        from {{ processed_through_table() }}
        where relation_name in ('{{ parents | join("', '") }}')
    ) as parents
    where
        run.invocation_id = '{{ invocation_id }}'
        and run.safe_point is not null
        and parents.records = {{ parents | length }}
{%- endmacro %}

{% macro spark__record_processed_through(parents) -%}
    {{ return('') }}
{%- endmacro %}

{#
    The names of the incremental models `node` reads, through views and ephemeral models (a
    source or a seed ends a path: the raw lines are the run's safe point itself).
#}
{% macro incremental_parents(node) -%}
    {%- set found = [] -%}
    {%- for parent_id in node.depends_on.nodes -%}
        {%- set parent = graph.nodes.get(parent_id) -%}
        {%- if parent is not none and parent.resource_type == 'model' -%}
            {%- if parent.config.materialized == 'incremental' -%}
                {%- do found.append(parent.alias) -%}
            {%- else -%}
                {%- do found.extend(incremental_parents(parent)) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found | unique | list) }}
{%- endmacro %}

{#
    Where the running model's record says its run may start reading (a timestamp literal), or
    none when it has no record or no rows: loaded_at_window_start then keeps the lookback
    rule. Spark keeps no records: none, without asking its metastore.
#}
{% macro processed_through_start() -%}
    {%- if not execute or model.resource_type != 'model' -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.dispatch('processed_through_start', 'clickstream')()) }}
{%- endmacro %}

{% macro default__processed_through_start() -%}
    {%- if not bookkeeping_table_exists(processed_through_table()) -%}
        {{ return(none) }}
    {%- endif -%}
    {#- an empty table has nothing to go by (its rows deleted by hand, a mart with no rows
        yet): its run reads from the lookback rule's start, everything -#}
    {%- set found = run_query(
        "select loaded_at::text from " ~ processed_through_table()
        ~ " where relation_name = '" ~ this.identifier ~ "'"
        ~ " and exists (select from " ~ this ~ ")").rows -%}
    {{ return("'" ~ found[0][0] ~ "'::timestamptz" if found | length > 0 else none) }}
{%- endmacro %}

{% macro spark__processed_through_start() -%}
    {{ return(none) }}
{%- endmacro %}
