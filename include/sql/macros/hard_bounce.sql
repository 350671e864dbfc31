{#-
The one definition of Runbook Issue 3's rule "which leads the daily bounce fix invalidates", used
by checks/daily/measure_bounce_rate.sql and remediation/count_hard_bounce_leads.sql,
select_hard_bounce_targets.sql, invalidate_hard_bounce_targets.sql and
mark_hard_bounce_leads_invalid.sql (tests/alerting/test_bounce_remediation_safety.py):
a lead is to invalidate when metadata->>'email_invalid' is not 'true' and it has a hard bounce
(email_sends.bounce_type = 'hard'; soft ones, SendGrid 'blocked', never count) that
  - was sent (actual_send_time, else created_at) at or after metadata.email_valid_since, the
    lead's last reset as ops record it (remediation/reset_lead_email.sql): an ISO 8601
    timestamp, with an offset or 'Z' (without: the session's time zone). No marker (absent or
    JSON null): any time counts. A marker that is no timestamp: nothing counts, the lead is left
    alone;
  - and went to the lead's current address: a bounce whose SendGrid event (email_events 'bounce'
    or 'dropped') names in payload.email another address than leads.email (compared trimmed,
    lower-cased) does not count. No event, or none naming an address: it counts.
Use: {% import "macros/hard_bounce.sql" as hard_bounce %} ... WHERE {{ hard_bounce.lead_to_invalidate("l") }}
-#}
{% macro lead_to_invalidate(lead) -%}
({{ lead }}.metadata ->> 'email_invalid') IS DISTINCT FROM 'true'
AND EXISTS (
    SELECT 1
    FROM email_sends AS es
    WHERE
        es.lead_id = {{ lead }}.id
        AND es.bounce_type = 'hard'
        -- sent since the lead's last reset (none recorded: any time)
        AND (
            {{ lead }}.metadata ->> 'email_valid_since' IS NULL
            OR COALESCE(es.actual_send_time, es.created_at) >= CAST(
                JSONB_PATH_QUERY_FIRST(
                    TO_JSONB(REGEXP_REPLACE({{ lead }}.metadata ->> 'email_valid_since', '[Zz]$', '+00:00')),
                    '$.datetime()',
                    CAST('{}' AS jsonb),
                    TRUE
                ) #>> '{}' AS timestamptz
            )
        )
        -- to the lead's current address (the bounce event names another one: not counted)
        AND NOT EXISTS (
            SELECT 1
            FROM email_events AS ee
            WHERE
                ee.email_send_id = es.id
                AND ee.event_type IN ('bounce', 'dropped')
                AND LOWER(TRIM(ee.payload ->> 'email')) <> LOWER(TRIM({{ lead }}.email))
        )
)
{%- endmacro %}

{#- Enrollments the fix completes: open ones of the leads it invalidates (ids in `to_invalidate`, a
CTE with an `id` column) and of leads already marked invalid. -#}
{% macro enrollment_to_complete(enrollment, to_invalidate) -%}
{{ enrollment }}.status IN ('active', 'paused')
AND (
    {{ enrollment }}.lead_id IN (SELECT t.id FROM {{ to_invalidate }} AS t)
    OR {{ enrollment }}.lead_id IN (
        SELECT invalid.id
        FROM leads AS invalid
        WHERE invalid.metadata ->> 'email_invalid' = 'true'
    )
)
{%- endmacro %}
