"""`python -m pao_notifier [--port N]`: run the notifier service."""

from pao_common.service import run_service

from pao_notifier.app import create_app

if __name__ == "__main__":
    run_service(create_app, lambda settings: settings.notifier_port)
