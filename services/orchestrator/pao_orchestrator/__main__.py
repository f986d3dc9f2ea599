"""`python -m pao_orchestrator [--port N]`: run the orchestrator service."""

from pao_common.service import run_service

from pao_orchestrator.app import create_app

if __name__ == "__main__":
    run_service(create_app, lambda settings: settings.orchestrator_port)
