"""`python -m pao_executors.terraform [--port N]`: run the terraform executor service."""

from pao_common.executor import run_executor

from pao_executors.terraform import service_executor

if __name__ == "__main__":
    run_executor(service_executor())
