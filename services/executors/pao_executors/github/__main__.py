"""`python -m pao_executors.github [--port N]`: run the github-workflow executor service."""

from pao_common.executor import run_executor

from pao_executors.github import service_executor

if __name__ == "__main__":
    run_executor(service_executor())
