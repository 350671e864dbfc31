{#-
The Lead Nurture page's one definition of its rates and of its selection over campaign_analytics
(an alias, e.g. "ca"), used by ops_page/select_kpi_totals.sql and ops_page/select_daily_rates.sql,
so the KPI table and the trend charts cannot disagree. Params of the caller: start_day, end_day
(date, half-open), organization_id (uuid or NULL: all), campaign_id (bigint or NULL: all).
  rates(ca)     open, click, bounce and unsubscribe rate: percentages with 2 decimals over the
                summed counts, NULL when nothing was sent (as checks/daily/measure_kpis.sql for a day)
  in_scope(ca)  the days [start_day, end_day) of every campaign, one organization or one campaign
Use: {% import "macros/analytics_scope.sql" as analytics_scope %}
-#}
{% macro rates(ca) -%}
ROUND(SUM({{ ca }}.unique_opens_today) * 100.0 / NULLIF(SUM({{ ca }}.emails_sent_today), 0), 2) AS open_rate,
ROUND(SUM({{ ca }}.unique_clicks_today) * 100.0 / NULLIF(SUM({{ ca }}.emails_sent_today), 0), 2) AS click_rate,
ROUND(SUM({{ ca }}.emails_bounced_today) * 100.0 / NULLIF(SUM({{ ca }}.emails_sent_today), 0), 2) AS bounce_rate,
ROUND(
    SUM({{ ca }}.unsubscribes_today) * 100.0 / NULLIF(SUM({{ ca }}.emails_sent_today), 0), 2
) AS unsubscribe_rate
{%- endmacro %}

{% macro in_scope(ca) -%}
{{ ca }}.analytics_date >= CAST({{ bind("start_day") }} AS date)
AND {{ ca }}.analytics_date < CAST({{ bind("end_day") }} AS date)
AND (
    CAST({{ bind("organization_id") }} AS uuid) IS NULL
    OR {{ ca }}.organization_id = CAST({{ bind("organization_id") }} AS uuid)
)
AND (
    CAST({{ bind("campaign_id") }} AS bigint) IS NULL
    OR {{ ca }}.campaign_id = CAST({{ bind("campaign_id") }} AS bigint)
)
{%- endmacro %}
