{#
    The small engine differences the bookkeeping macros share: how a value becomes text and
    back, the earliest timestamp, whether a table exists, and how a hook runs several
    statements. PostgreSQL's forms (`default__`) are the project's original SQL; Spark's
    (`spark__`) do the same on Spark 4 (a TIMESTAMP there is an instant shown in the session
    time zone, UTC: it plays timestamptz's part).
#}

{# `expression` as text, e.g. a timestamp read back into a literal. #}
{% macro text_of(expression) -%}
    {{ return(adapter.dispatch('text_of', 'clickstream')(expression)) }}
{%- endmacro %}

{% macro default__text_of(expression) -%}
    ({{ expression }})::text
{%- endmacro %}

{% macro spark__text_of(expression) -%}
    cast({{ expression }} as string)
{%- endmacro %}

{# A timestamp literal from the text text_of() gave. #}
{% macro timestamp_literal(text) -%}
    {{ return(adapter.dispatch('timestamp_literal', 'clickstream')(text)) }}
{%- endmacro %}

{% macro default__timestamp_literal(text) -%}
    '{{ text }}'::timestamptz
{%- endmacro %}

{% macro spark__timestamp_literal(text) -%}
    timestamp'{{ text }}'
{%- endmacro %}

{# A date literal from its text (yyyy-mm-dd). #}
{% macro date_literal(text) -%}
    {{ return(adapter.dispatch('date_literal', 'clickstream')(text)) }}
{%- endmacro %}

{% macro default__date_literal(text) -%}
    '{{ text }}'::date
{%- endmacro %}

{% macro spark__date_literal(text) -%}
    date'{{ text }}'
{%- endmacro %}

{#
    Before every loader time: a window that starts here reads everything. Spark has no
    -infinity; its timestamps start at year 1.
#}
{% macro earliest_timestamp() -%}
    {{ return(adapter.dispatch('earliest_timestamp', 'clickstream')()) }}
{%- endmacro %}

{% macro default__earliest_timestamp() -%}
    '-infinity'::timestamptz
{%- endmacro %}

{% macro spark__earliest_timestamp() -%}
    timestamp'0001-01-01 00:00:00'
{%- endmacro %}

{# `timestamp` minus the loaded_at_lookback var (e.g. "1 hour"). #}
{% macro minus_lookback(timestamp) -%}
    {{ return(adapter.dispatch('minus_lookback', 'clickstream')(timestamp)) }}
{%- endmacro %}

{% macro default__minus_lookback(timestamp) -%}
    {{ timestamp }} - interval '{{ var("loaded_at_lookback") }}'
{%- endmacro %}

{% macro spark__minus_lookback(timestamp) -%}
    {{ timestamp }} - interval '{{ var("loaded_at_lookback") }}'
{%- endmacro %}

{#
    True while dbt runs nodes against the warehouse (a build, run or test): the on-run-start
    hooks have created the bookkeeping tables, and the loader's tables are there. False where
    dbt only compiles (sqlfluff, docs) or runs an operation: those tables may not exist yet.
#}
{% macro running_nodes() -%}
    {{ return(execute and flags.WHICH in ('build', 'run', 'test')) }}
{%- endmacro %}

{#
    True when the bookkeeping table `table` (`schema.name`) exists: without asking while
    running nodes (running_nodes()), which spares each data test and incremental model a round
    trip (two metastore lookups on Spark); anywhere else, asked of the database itself: dbt's
    relation cache does not know the tables the hooks create.
#}
{% macro bookkeeping_table_exists(table) -%}
    {%- if running_nodes() -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(adapter.dispatch('bookkeeping_table_exists', 'clickstream')(table)) }}
{%- endmacro %}

{% macro default__bookkeeping_table_exists(table) -%}
    {{ return(run_query("select to_regclass('" ~ table ~ "') is not null").rows[0][0]) }}
{%- endmacro %}

{% macro spark__bookkeeping_table_exists(table) -%}
    {%- set schema, name = table.split('.') -%}
    {%- if run_query("show schemas like '" ~ schema ~ "'").rows | length == 0 -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(run_query("show tables in " ~ schema ~ " like '" ~ name ~ "'").rows | length > 0) }}
{%- endmacro %}

{#
    A hook made of several statements. PostgreSQL runs them as one hook (one round trip, in
    the hook's transaction); Spark runs one statement per call, so they run here, one by one,
    and the hook itself is left empty (dbt skips an empty hook).
#}
{% macro hook_statements(statements) -%}
    {{ return(adapter.dispatch('hook_statements', 'clickstream')(statements)) }}
{%- endmacro %}

{% macro default__hook_statements(statements) -%}
    {{ return(statements | join(';\n')) }}
{%- endmacro %}

{% macro spark__hook_statements(statements) -%}
    {%- if execute -%}
        {%- for statement in statements -%}
            {%- do run_query(statement) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#
    The marts' post-hook after a whole build: planner statistics for PostgreSQL (the next
    incremental run would otherwise plan its joins blind). Nothing on Spark: its cost-based
    optimizer is off by default and it sizes a Parquet table from its files; `analyze table`
    would read the whole table after every full build for no gain.
#}
{% macro analyze_after_full_build() -%}
    {{ return(adapter.dispatch('analyze_after_full_build', 'clickstream')()) }}
{%- endmacro %}

{% macro default__analyze_after_full_build() -%}
    {%- if not is_incremental() %}analyze {{ this }}{% endif -%}
{%- endmacro %}

{% macro spark__analyze_after_full_build() -%}
{%- endmacro %}

{#
    `{% call array_without_nulls() %} a, b, ... {% endcall %}`: the array of the expressions
    given, their nulls left out (an array of text).
#}
{% macro array_without_nulls() -%}
    {{ return(adapter.dispatch('array_without_nulls', 'clickstream')(caller())) }}
{%- endmacro %}

{% macro default__array_without_nulls(items) -%}
    array_remove(
                array[{{ items }}
                ],
                null
            )
{%- endmacro %}

{% macro spark__array_without_nulls(items) -%}
    filter(array({{ items }}), item -> item is not null)
{%- endmacro %}

{#
    An array as JSON: jsonb on PostgreSQL; its JSON text on Spark (a unit test's fixture can be
    written as either).
#}
{% macro json_array_of(array) -%}
    {{ return(adapter.dispatch('json_array_of', 'clickstream')(array)) }}
{%- endmacro %}

{% macro default__json_array_of(array) -%}
    to_jsonb({{ array }})
{%- endmacro %}

{% macro spark__json_array_of(array) -%}
    to_json({{ array }})
{%- endmacro %}

{# The instant a UTC date starts. #}
{% macro utc_midnight(date) -%}
    {{ return(adapter.dispatch('utc_midnight', 'clickstream')(date)) }}
{%- endmacro %}

{% macro default__utc_midnight(date) -%}
    {{ date }}::timestamp at time zone 'UTC'
{%- endmacro %}

{% macro spark__utc_midnight(date) -%}
    cast({{ date }} as timestamp)
{%- endmacro %}
