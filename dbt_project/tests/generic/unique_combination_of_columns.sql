{#
    Fails on every combination of `combination`'s columns that occurs more than once. The same
    as dbt_utils', which cannot be installed here: macros/README.md.
#}
{% test unique_combination_of_columns(model, combination) %}
    select
        {{ combination | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ combination | join(', ') }}
    having count(*) > 1
{% endtest %}
