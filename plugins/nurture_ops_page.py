"""Airflow plugin: the "Lead Nurture" page (nurture_ops.ops_page) in the Airflow UI's navigation.

Airflow loads every module of the plugins folder that defines an AirflowPlugin subclass
(plugins_manager, the plugins folder); the api-server mounts `fastapi_apps` under their url_prefix and
lists `external_views` with a `url_route` inside its UI (an iframe at /plugin/<url_route>), here in
the navigation. Loading it builds the FastAPI app and nothing else: no connection, no Variable.
"""

from airflow.plugins_manager import AirflowPlugin

from nurture_ops.ops_page.app import app

URL_PREFIX = "/nurture-ops"


class NurtureOpsPagePlugin(AirflowPlugin):
    name = "nurture_ops_page"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Lead Nurture"}]
    external_views = [
        {
            "name": "Lead Nurture",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "lead-nurture",
        }
    ]
