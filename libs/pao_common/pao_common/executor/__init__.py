"""The executor SDK: declare action types, serve them on ``pao.actions.<family>``.

    executor = Executor("debug")

    class LogInputs(BaseModel):
        message: str

    @executor.action("debug.log", inputs=LogInputs)
    async def log(inputs: LogInputs, ctx: ActionContext) -> dict[str, Any]:
        await ctx.progress("logging", 50)
        return {"message": inputs.message}

    @executor.compensate("debug.log")
    async def unlog(inputs: LogInputs, ctx: ActionContext) -> dict[str, Any]:
        return {}

    if __name__ == "__main__":
        run_executor(executor)

The SDK validates inputs against the model, resolves ``${secret:name}`` references,
runs the handler within the command's ``timeout_s``, reports started / progress /
succeeded / failed on ``pao.actions.results``, deduplicates on the command id,
masks secret values in logs and results, and counts every outcome in Prometheus.
Handlers fail with ``ActionError(message, retryable=...)``. See docs/executors.md.
"""

from pao_common.errors import ActionError
from pao_common.executor.app import create_executor_app, create_executors_app, run_executor
from pao_common.executor.breaker import CircuitBreaker, CircuitBreakers
from pao_common.executor.context import ActionContext
from pao_common.executor.dedup import Claim, DedupStore, InMemoryDedupStore, PostgresDedupStore
from pao_common.executor.registry import ActionDefinition, Executor, Route
from pao_common.executor.runner import ActionRunner, KafkaResultPublisher, ResultPublisher
from pao_common.executor.secrets import REDACTOR, Redactor, SecretResolver, install_log_redaction

__all__ = [
    "REDACTOR",
    "ActionContext",
    "ActionDefinition",
    "ActionError",
    "ActionRunner",
    "CircuitBreaker",
    "CircuitBreakers",
    "Claim",
    "DedupStore",
    "Executor",
    "InMemoryDedupStore",
    "KafkaResultPublisher",
    "PostgresDedupStore",
    "Redactor",
    "ResultPublisher",
    "Route",
    "SecretResolver",
    "create_executor_app",
    "create_executors_app",
    "install_log_redaction",
    "run_executor",
]
