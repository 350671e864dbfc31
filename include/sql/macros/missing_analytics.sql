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
  campaigns_with_sends  campaigns that sent that day (live sends; archived too when
                        sends_archive): the missing ones plus the rolled-up ones a probe confirms
  campaigns_missing     campaigns that sent that day and have no row
Campaigns come from nurture_campaigns: archived sends of a campaign deleted since (the archive
has no foreign key) are not reported, since the rollup cannot write a row for them either.
Use: {% import "macros/missing_analytics.sql" as missing_analytics %}
     WITH {{ missing_analytics.per_day_ctes(sends_archive) }} ... FROM per_day
-#}
{#- A send of campaign `campaign` with actual_send_time in [start, end) on UTC day `day`: live (one
index probe, email_sends_campaign_send_time_idx), or archived when sends_archive (the lookback's
archived (campaign, day) pairs, read once in archived_campaign_days: the archive has no campaign
index, and for a recent lookback it holds next to nothing). -#}
{% macro campaign_sent(campaign, start, end, day, sends_archive) -%}
(
    -- A scalar subquery with LIMIT 1, not EXISTS: EXISTS may be planned as a semi-join that reads
    -- every send of the window (seen at 7 days of data); this stays one index probe per row.
    (
        SELECT TRUE
        FROM email_sends AS es
        WHERE es.campaign_id = {{ campaign }} AND es.actual_send_time >= {{ start }} AND es.actual_send_time < {{ end }}
        LIMIT 1
    ) IS NOT NULL
    {%- if sends_archive %}
    OR EXISTS (
        SELECT 1
        FROM archived_campaign_days AS acd
        WHERE acd.campaign_id = {{ campaign }} AND acd.analytics_date {{ day }}
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
{%- if sends_archive %}

archived_campaign_days AS MATERIALIZED (
    SELECT DISTINCT
        esa.campaign_id,
        CAST(esa.actual_send_time AT TIME ZONE 'UTC' AS date) AS analytics_date
    FROM email_sends_archive AS esa
    WHERE esa.actual_send_time >= {{ lookback_start }} AND esa.actual_send_time < {{ lookback_end }}
),
{%- endif %}

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

-- Campaigns that sent at all in the lookback: one probe each, so a campaign that no longer sends
-- costs one probe, not one a day.
sending_campaigns AS (
    SELECT nc.id
    FROM nurture_campaigns AS nc
    WHERE
        {{ campaign_sent("nc.id", lookback_start, lookback_end, "IS NOT NULL", sends_archive) }}
),

-- The pairs of a sending campaign and a day without its row, first (materialized: the planner
-- would otherwise probe every pair before the anti-join), then probed for a send that day.
unrolled_pairs AS MATERIALIZED (
    SELECT
        ad.analytics_date,
        ad.day_start,
        ad.day_end,
        sc.id AS campaign_id
    FROM analytics_days AS ad
    CROSS JOIN sending_campaigns AS sc
    WHERE NOT EXISTS (
        SELECT 1
        FROM rolled_up_pairs AS rp
        WHERE rp.campaign_id = sc.id AND rp.analytics_date = ad.analytics_date
    )
),

missing_campaign_days AS (
    SELECT
        up.analytics_date,
        up.campaign_id
    FROM unrolled_pairs AS up
    WHERE {{ campaign_sent("up.campaign_id", "up.day_start", "up.day_end", "= up.analytics_date", sends_archive) }}
),

-- Only days with something missing are reported; for those, the rolled-up campaigns that did send
-- that day (the same probe: a row kept for a campaign whose sends are gone does not count).
missing_days AS (
    SELECT DISTINCT
        ad.analytics_date,
        ad.day_start,
        ad.day_end
    FROM analytics_days AS ad
    INNER JOIN missing_campaign_days AS mcd ON ad.analytics_date = mcd.analytics_date
),

rolled_up_that_sent AS (
    SELECT
        md.analytics_date,
        COUNT(*) AS campaigns
    FROM missing_days AS md
    INNER JOIN rolled_up_pairs AS rp ON md.analytics_date = rp.analytics_date
    WHERE {{ campaign_sent("rp.campaign_id", "md.day_start", "md.day_end", "= md.analytics_date", sends_archive) }}
    GROUP BY md.analytics_date
),

per_day AS (
    SELECT
        mcd.analytics_date,
        COUNT(*) AS campaigns_missing,
        COUNT(*) + COALESCE(MAX(rs.campaigns), 0) AS campaigns_with_sends
    FROM missing_campaign_days AS mcd
    LEFT JOIN rolled_up_that_sent AS rs ON mcd.analytics_date = rs.analytics_date
    GROUP BY mcd.analytics_date
)
{%- endmacro %}
