{#
    The lower bound of `loaded_at` an incremental run reads from: the newest `loaded_at`
    already in `relation` (column `column`) minus the lookback var. See dbt_project.yml for
    why the lookback exists; docs/warehouse.md for the whole strategy.
#}
{% macro loaded_at_window_start(relation, column='loaded_at') -%}
    (
        select coalesce(max({{ column }}), '-infinity'::timestamptz)
            - interval '{{ var("loaded_at_lookback") }}'
        from {{ relation }}
    )
{%- endmacro %}
