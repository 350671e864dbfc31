"""The "Lead Nurture" page of the Airflow UI: a FastAPI app (app.py) the api-server mounts through the
plugin in plugins/nurture_ops_page.py, with a navigation entry. It reads through core and alerting;
nothing else of the package imports it (import-linter contract "ops-page")."""
