{#
    The contract's enumerations (clickstream/contract.py), for the classification model. Not a
    copy of dbt's accepted_values test, which the marts' yml use as dbt-core provides it.
#}
{% macro accepted_event_names() -%}
    {{ return(['page_view', 'product_view', 'add_to_cart', 'remove_from_cart', 'checkout',
               'purchase', 'consent_update', 'page_ping']) }}
{%- endmacro %}

{% macro accepted_login_states() -%}
    {{ return(['logged_in', 'guest']) }}
{%- endmacro %}

{# Absent or null: the site does not ask for consent. #}
{% macro accepted_consent_states() -%}
    {{ return(['granted', 'denied']) }}
{%- endmacro %}
