{#
    Fails on every row of `model` where `expression` is not true (a null counts as a
    failure unless the expression handles it). Local rather than dbt_utils', which cannot be
    installed here and lets a null pass: macros/README.md.
#}
{% test expression_is_true(model, expression) %}
    select *
    from {{ model }}
    where not coalesce({{ expression }}, false)
{% endtest %}
