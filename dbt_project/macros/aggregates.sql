{# numerator / denominator as numeric rounded to 4 places; null when the denominator is 0. #}
{% macro rate(numerator, denominator) -%}
    round({{ numerator }}::numeric / nullif({{ denominator }}, 0), 4)
{%- endmacro %}
