{#
    `{% call per_line('source', 'alias') %} select <expressions of source's columns> ...
    {{ per_line_columns_from('source') }} {% endcall %}`: every column of `source` and the
    expressions of the subquery (as `alias`), computed once per row however many times the
    models downstream use them.

    PostgreSQL: a LATERAL subquery with a LIMIT (of its only row): the planner evaluates it once
    per line and never copies its expressions into every use; a filter on `source` still
    reaches the table. Spark's optimizer does the opposite with a lateral subquery (it inlines
    its expressions into every use: a classification took minutes to plan), but keeps a derived
    table's costly expressions where they are: the subquery reads `source` itself there.
#}
{% macro per_line(relation, alias) -%}
    {{ return(adapter.dispatch('per_line', 'clickstream')(relation, alias, caller())) }}
{%- endmacro %}

{% macro default__per_line(relation, alias, subquery) -%}
    select
        {{ relation }}.*,
        {{ alias }}.*
    from {{ relation }}
    cross join lateral (  -- noqa: ST05
        {{ subquery | trim }}
        limit 1  -- noqa: AM09
    ) as {{ alias }}
{%- endmacro %}

{% macro spark__per_line(relation, alias, subquery) -%}
    select {{ alias }}.*
    from (
        {{ subquery | trim }}
    ) as {{ alias }}
{%- endmacro %}

{#
    At the end of the select list of per_line()'s innermost subquery: nothing on PostgreSQL
    (the LATERAL subquery sees the row); on Spark the row's columns and the FROM.
#}
{% macro per_line_columns_from(relation) -%}
    {{ return(adapter.dispatch('per_line_columns_from', 'clickstream')(relation)) }}
{%- endmacro %}

{% macro default__per_line_columns_from(relation) -%}
{%- endmacro %}

{% macro spark__per_line_columns_from(relation) -%}
    , {{ relation }}.* from {{ relation }}
{%- endmacro %}
