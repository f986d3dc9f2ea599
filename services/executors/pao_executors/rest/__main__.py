"""`python -m pao_executors.rest [--port N]`: run the rest executor service."""

from pao_common.executor import run_executor

from pao_executors.rest import service_executor

if __name__ == "__main__":
    run_executor(service_executor())
