{#
    The reporting currency (var `reporting_currency`) as a SQL literal: the currency that
    fct_product_performance_daily's `revenue` is in. It goes into the SQL as it is, so it must
    be an ISO 4217 code in capitals, as the contract requires of `context.order.currency`.
#}
{% macro reporting_currency() -%}
    {%- set currency = var('reporting_currency') | string -%}
    {%- if not modules.re.fullmatch('[A-Z]{3}', currency) -%}
        {{ exceptions.raise_compiler_error(
            "var reporting_currency must be a three-letter ISO 4217 code in capitals, like"
            ~ " EUR (got '" ~ currency ~ "')") }}
    {%- endif -%}
    '{{ currency }}'
{%- endmacro %}

{#
    An incremental run must not add revenue in one currency to a table that holds it in
    another: with the var changed, only a full refresh rebuilds every row in the new one.
    Every row has the same currency (a full refresh writes them all, and incremental runs stop
    here), so one row tells: the column is the record of the var the table was built with
    (built_with.sql, which words the refusal). (A unit test's `this` is a fixture: nothing to check. A table
    built before it had the column: on_schema_change='fail' says to rebuild it.)
#}
{% macro check_reporting_currency_unchanged() -%}
    {%- do reporting_currency() -%} {#- the var's own error first -#}
    {%- if execute and model.resource_type == 'model'
        and 'currency' in adapter.get_columns_in_relation(this) | map(attribute='name') -%}
        {#- any one row: no `where`, which would read the whole table when all is well -#}
        {%- set found = run_query("select currency from " ~ this ~ " limit 1") -%}
        {%- if found.rows | length > 0 and found.rows[0][0] != var('reporting_currency') -%}
            {#- the shared refusal (built_with.sql): the column is this var's record -#}
            {{ refuse_changed_var(
                'reporting_currency', found.rows[0][0],
                built_as="holds revenue in " ~ found.rows[0][0]) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
