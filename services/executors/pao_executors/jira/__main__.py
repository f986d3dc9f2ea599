"""`python -m pao_executors.jira [--port N]`: run the jira executor service."""

from pao_common.executor import run_executor

from pao_executors.jira import service_executor

if __name__ == "__main__":
    run_executor(service_executor())
