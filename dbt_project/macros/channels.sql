{#
    Channel grouping (issue 11): a session's channel from its attribution, the UTM parameters,
    click ids and referrer of its first counted event. Defined once, here; the known sources
    and their category ('search', 'social', 'email', 'shopping') are the seed
    `channel_sources`. The rules, first match wins (GA4's default channel group, simplified
    to the channels this shop reports):

    1. Direct: no utm_source, no utm_medium, no click id, and no referrer outside the site
       (var `site_hosts`); also utm_source '(direct)'.
    2. Paid Search: a gclid or msclkid, or a paid medium (cpc, ppc, paid*, retargeting) from a
       search or shopping source (or of unknown source).
    3. Display: medium display, banner, cpm, interstitial or expandable; or a paid medium
       from any other source but social.
    4. Social: medium social (social-network, social-media, sm, social network...), a
       social source (utm_source or referrer), or an fbclid; paid social included.
    5. Affiliates: medium affiliate or affiliates.
    6. Email: medium email (e-mail, e_mail, newsletter) or an email source.
    7. Organic Search: medium organic, or a search source.
    8. Referral: medium referral, or a shopping source, or a referrer with no UTM at all.
    9. Other: UTM parameters no rule above recognises.

    The arguments are SQL expressions; `source_category` and `referrer_category` are the
    seed's category of utm_source and of the referrer's host (null when unknown), joined by
    the model with `join_channel_source_category()` (below).
#}
{% macro channel_group(
    utm_source, utm_medium, gclid, fbclid, msclkid, referrer_host, source_category,
    referrer_category
) -%}
    {%- set medium = "lower(coalesce(" ~ utm_medium ~ ", ''))" -%}
    {%- set category = "coalesce(" ~ source_category ~ ", " ~ referrer_category ~ ")" -%}
    {%- set paid = medium ~ " in ('cpc', 'ppc', 'retargeting') or " ~ medium ~ " like 'paid%'" -%}
    case
        when lower(coalesce({{ utm_source }}, '')) = '(direct)' then 'Direct'
        when
            {{ utm_source }} is null and {{ utm_medium }} is null
            and {{ gclid }} is null and {{ fbclid }} is null and {{ msclkid }} is null
            and {{ referrer_host }} is null
            then 'Direct'
        when {{ gclid }} is not null or {{ msclkid }} is not null then 'Paid Search'
        when
            ({{ paid }})
            and coalesce({{ category }}, 'search') in ('search', 'shopping')
            then 'Paid Search'
        when {{ medium }} in ('display', 'banner', 'cpm', 'interstitial', 'expandable')
            then 'Display'
        when ({{ paid }}) and coalesce({{ category }}, '') <> 'social' then 'Display'
        when
            {{ medium }} in ('social', 'social-network', 'social-media', 'social network',
                'social media', 'sm', 'paid social', 'paid-social')
            or {{ category }} = 'social'
            or {{ fbclid }} is not null
            then 'Social'
        when {{ medium }} in ('affiliate', 'affiliates') then 'Affiliates'
        when {{ medium }} in ('email', 'e-mail', 'e_mail', 'newsletter') or {{ category }} = 'email'
            then 'Email'
        when {{ medium }} = 'organic' or {{ category }} = 'search' then 'Organic Search'
        when {{ medium }} = 'referral' or {{ category }} = 'shopping' then 'Referral'
        when {{ utm_source }} is null and {{ utm_medium }} is null then 'Referral'
        else 'Other'
    end
{%- endmacro %}

{#
    The host of a URL, lower case, without a leading www., m., l. or lm. (the forms of one
    site's referrers); null for no URL, a URL without a host, or a host of the site itself
    (var `site_hosts`): moving between the site's own pages is not a referral.
#}
{% macro referrer_host(url) -%}
    {#- `[.]`, not a backslash: Spark's string literals take backslashes as escapes -#}
    {%- set host = "regexp_replace(lower("
        ~ regex_substring(url, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#]+)')
        ~ "), '^(www|m|l|lm)[.]', '')" -%}
    case
        when {{ host }} in ('{{ var("site_hosts") | join("', '") }}') then null
        else nullif({{ host }}, '')
    end
{%- endmacro %}

{# A utm_source as the seed writes sources: lower case, trimmed, without a leading www. #}
{% macro normalized_source(utm_source) -%}
    regexp_replace(lower(trim({{ utm_source }})), '^(www|m|l|lm)[.]', '')
{%- endmacro %}

{#
    The seed's category of a source or host (already normalized): the whole value first, then
    its first label (google.co.uk -> google). `join_channel_source_category(source, name)`
    adds two left joins to the seed to the model's FROM clause; `channel_source_category(name)`
    is then the category. Joins, not a scalar subquery per value: inside the channel rules'
    CASE, PostgreSQL ran such a subquery once per use per session, each time scanning the seed
    and evaluating the value (a regular expression) for every row of it; that was 8 of the
    10 s fct_sessions took on 200,000 events.
#}
{% macro join_channel_source_category(source, name) -%}
    left join {{ ref('channel_sources') }} as {{ name }}_whole
        on {{ source }} = {{ name }}_whole.source
    left join {{ ref('channel_sources') }} as {{ name }}_first_label
        on split_part({{ source }}, '.', 1) = {{ name }}_first_label.source
{%- endmacro %}

{% macro channel_source_category(name) -%}
    coalesce({{ name }}_whole.category, {{ name }}_first_label.category)
{%- endmacro %}
