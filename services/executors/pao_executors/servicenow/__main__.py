"""`python -m pao_executors.servicenow [--port N]`: run the servicenow executor service."""

from pao_common.executor import run_executor

from pao_executors.servicenow import service_executor

if __name__ == "__main__":
    run_executor(service_executor())
