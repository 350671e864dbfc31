{#-
The one definition of Runbook Issue 5's "a day is missing analytics": some campaign sent that day
(email_sends.actual_send_time in [D 00:00 UTC, D+1 00:00 UTC), any status; archived sends too
when sends_archive) but has no campaign_analytics row for it. Used by
checks/daily/measure_analytics_freshness.sql (the daily check) and
analytics/list_missing_analytics_days.sql (the gap filler). Params of the caller: lookback_start,
day (dates, inclusive).

Priced by what is missing, not by the sends of the lookback: the rollup writes one row per
campaign that sent, so every (day, campaign) pair with a row is settled from campaign_analytics
alone (an index range scan of the lookback's rows, one a campaign and day); each campaign
is probed once for a send in the lookback, and only the pairs of a campaign that sent and a day
without its row are probed for that day: index probes on email_sends (campaign_id,
actual_send_time) (email_sends_campaign_send_time_idx, include/sql/schema/030). On a healthy
lookback that is one probe per campaign; a day not rolled up costs one more per sending
campaign.
  campaigns_with_sends  campaigns with a row for the day plus the campaigns missing one (a row
                        written for a campaign whose sends were deleted since still counts)
  campaigns_missing     campaigns that sent that day and have no row
Use: {% import "macros/missing_analytics.sql" as missing_analytics %}
     WITH {{ missing_analytics.per_day_ctes(sends_archive) }} ... FROM per_day
-#}
{#- A send of campaign `campaign` with actual_send_time in [start, end): live, and archived too when
sends_archive. One index probe per table (email_sends_campaign_send_time_idx). -#}
{% macro campaign_sent(campaign, start, end, sends_archive) -%}
(
    EXISTS (
        SELECT 1
        FROM email_sends AS es
        WHERE es.campaign_id = {{ campaign }} AND es.actual_send_time >= {{ start }} AND es.actual_send_time < {{ end }}
    )
    {%- if sends_archive %}
    OR EXISTS (
        SELECT 1
        FROM email_sends_archive AS esa
        WHERE esa.campaign_id = {{ campaign }} AND esa.actual_send_time >= {{ start }} AND esa.actual_send_time < {{ end }}
    )
    {%- endif %}
)
{%- endmacro %}

{% macro per_day_ctes(sends_archive=false) -%}
{%- set lookback_start = "CAST(CAST(" ~ bind("lookback_start") ~ " AS date) AS timestamp) AT TIME ZONE 'UTC'" -%}
{%- set lookback_end = "CAST(CAST(" ~ bind("day") ~ " AS date) + 1 AS timestamp) AT TIME ZONE 'UTC'" -%}
analytics_days AS (
    SELECT
        CAST(d.day AS date) AS analytics_date,
        CAST(d.day AS timestamp) AT TIME ZONE 'UTC' AS day_start,
        CAST(d.day + interval '1 day' AS timestamp) AT TIME ZONE 'UTC' AS day_end
    FROM GENERATE_SERIES(
        CAST(CAST({{ bind("lookback_start") }} AS date) AS timestamp),
        CAST(CAST({{ bind("day") }} AS date) AS timestamp),
        interval '1 day'
    ) AS d (day)
),

-- The (campaign, day) pairs the rollup wrote in the lookback: a range of the analytics_date index.
rolled_up_pairs AS MATERIALIZED (
    SELECT
        ca.campaign_id,
        ca.analytics_date
    FROM campaign_analytics AS ca
    WHERE
        ca.analytics_date >= CAST({{ bind("lookback_start") }} AS date)
        AND ca.analytics_date <= CAST({{ bind("day") }} AS date)
),

rolled_up AS (
    SELECT
        rp.analytics_date,
        COUNT(*) AS campaigns
    FROM rolled_up_pairs AS rp
    GROUP BY rp.analytics_date
),

-- Campaigns that sent at all in the lookback: one probe each, so a campaign that no longer sends
-- costs one probe, not one a day.
sending_campaigns AS (
    SELECT nc.id
    FROM nurture_campaigns AS nc
    WHERE
        {{ campaign_sent("nc.id", lookback_start, lookback_end, sends_archive) }}
),

missing_campaign_days AS (
    SELECT
        ad.analytics_date,
        sc.id AS campaign_id
    FROM analytics_days AS ad
    CROSS JOIN sending_campaigns AS sc
    WHERE
        NOT EXISTS (
            SELECT 1
            FROM rolled_up_pairs AS rp
            WHERE rp.campaign_id = sc.id AND rp.analytics_date = ad.analytics_date
        )
        AND {{ campaign_sent("sc.id", "ad.day_start", "ad.day_end", sends_archive) }}
),

per_day AS (
    SELECT
        mcd.analytics_date,
        COUNT(*) AS campaigns_missing,
        COUNT(*) + COALESCE(MAX(ru.campaigns), 0) AS campaigns_with_sends
    FROM missing_campaign_days AS mcd
    LEFT JOIN rolled_up AS ru ON mcd.analytics_date = ru.analytics_date
    GROUP BY mcd.analytics_date
)
{%- endmacro %}
