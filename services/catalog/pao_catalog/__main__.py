"""`python -m pao_catalog [--port N]`: run the catalog service."""

from pao_common.service import run_service

from pao_catalog.app import create_app

if __name__ == "__main__":
    run_service(
        lambda settings: create_app(settings, freeze_gc=True),
        lambda settings: settings.catalog_port,
    )
