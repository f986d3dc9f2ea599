"""`python -m pao_executors.example [--port N]`: run the example executor service."""

from pao_common.executor import run_executor

from pao_executors.example import executor

if __name__ == "__main__":
    run_executor(executor)
