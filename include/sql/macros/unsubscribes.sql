{#-
The one definition of Runbook 2 "High Unsubscribe Rate"'s counts for one day, grouped by a column
of email_sends, used by checks/daily/measure_unsubscribe_rate.sql (per campaign) and
checks/daily/measure_unsubscribe_rate_by_organization.sql (per organization), so the global and
the per-organization alert cannot drift apart. Params of the caller: day_start, day_end.
  day_sends         sends with actual_send_time in the day: emails_sent per group
  day_unsubscribes  sends with an 'unsubscribe' or 'group_unsubscribe' event whose
                    event_timestamp is in the day, each send counted once (SendGrid retries
                    webhooks; runbook Issue 2; the send itself may be of an earlier day)
Use: {% import "macros/unsubscribes.sql" as unsubscribes %}
     WITH {{ unsubscribes.day_ctes("campaign_id") }}, ...
-#}
{% macro day_ctes(group_by) -%}
day_sends AS (
    SELECT
        es.{{ group_by }},
        COUNT(*) AS emails_sent
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
        AND es.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
    GROUP BY es.{{ group_by }}
),

day_unsubscribes AS (
    SELECT
        es.{{ group_by }},
        COUNT(DISTINCT ev.email_send_id) AS unsubscribes
    FROM email_events AS ev
    INNER JOIN email_sends AS es ON ev.email_send_id = es.id
    WHERE
        ev.event_type IN ('unsubscribe', 'group_unsubscribe')
        AND ev.event_timestamp >= CAST({{ bind("day_start") }} AS timestamptz)
        AND ev.event_timestamp < CAST({{ bind("day_end") }} AS timestamptz)
    GROUP BY es.{{ group_by }}
)
{%- endmacro %}
