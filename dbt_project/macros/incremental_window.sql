{#
    The lower bound of `loaded_at` an incremental run reads from: the newest `loaded_at`
    already in `relation` (column `column`) minus the lookback var. See dbt_project.yml for
    why the lookback exists; docs/warehouse.md for the whole strategy.
#}
{% macro loaded_at_window_start(relation, column='loaded_at') -%}
    {%- set query -%}
        select coalesce(max({{ column }}), '-infinity'::timestamptz)
            - interval '{{ var("loaded_at_lookback") }}'
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
    The latest of the window starts of the named relations of this model's schema (a relation
    that does not exist yet counts as -infinity). invalid_events uses it with
    clickstream_events: invalid lines are rare, so its own watermark alone could lag far behind
    and make every run re-read a long stretch of raw lines.
#}
{% macro latest_window_start(identifiers) -%}
    greatest(
    {%- for identifier in identifiers %}
        {%- set relation = adapter.get_relation(
            database=this.database, schema=this.schema, identifier=identifier) %}
        {%- if relation is not none %}
        {{ loaded_at_window_start(relation) }}
        {%- else %}
        '-infinity'::timestamptz
        {%- endif %}{{ "," if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}
