"""`python -m pao_gateway [--port N]`: run the gateway service."""

from pao_common.service import run_service

from pao_gateway.app import create_app

if __name__ == "__main__":
    run_service(create_app, lambda settings: settings.gateway_port)
