{# The contract's enumerations (clickstream/contract.py), shared by models and tests. #}
{% macro accepted_event_names() -%}
    {{ return(['page_view', 'product_view', 'add_to_cart', 'remove_from_cart', 'checkout',
               'purchase']) }}
{%- endmacro %}

{% macro accepted_login_states() -%}
    {{ return(['logged_in', 'guest']) }}
{%- endmacro %}
