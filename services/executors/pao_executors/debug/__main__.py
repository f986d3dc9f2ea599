"""`python -m pao_executors.debug [--port N]`: run the debug executor service."""

from pao_common.executor import run_executor

from pao_executors.debug import service_executor

if __name__ == "__main__":
    run_executor(service_executor())
