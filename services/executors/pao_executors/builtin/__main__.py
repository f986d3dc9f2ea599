"""`python -m pao_executors.builtin [--port N]`: every built-in executor in one service."""

from pao_common.service import run_service

from pao_executors.builtin import create_app

if __name__ == "__main__":
    run_service(create_app, lambda settings: settings.executors_base_port)
