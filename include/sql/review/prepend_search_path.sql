-- Puts the schema holding pg_stat_statements first on the search_path for the current
-- transaction only (is_local = true); returns the previous search_path to restore.
SELECT
    CURRENT_SETTING('search_path') AS previous_search_path,
    SET_CONFIG(
        'search_path',
        QUOTE_IDENT({{ bind("schema_name") }}) || ', ' || CURRENT_SETTING('search_path'),
        TRUE
    ) AS search_path;
