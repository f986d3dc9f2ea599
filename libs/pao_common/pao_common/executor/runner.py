"""Runs action commands: dedup, validate, resolve secrets, run within the timeout, answer.

``ActionRunner.handle`` is the Kafka subscriber's handler. It claims the command in
the ``DedupStore`` and runs it as a task of its own, so one long action (a
Terraform apply) does not hold up the partition; ``max_concurrency`` bounds how
many run at once. The answer (``ActionSucceeded`` / ``ActionFailed``) is recorded
in the store before it is published, so a command seen again is answered with
the same event instead of being run again. ``ActionStarted`` and
``ActionProgress`` are informational and best effort; ``ActionStarted`` is only sent
for an action still running after ``started_after_s`` (or reporting progress before):
most actions answer sooner, and a report nobody needs is a Kafka message per command.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, cast

from opentelemetry import trace
from opentelemetry.context import Context
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from pao_common.cloudevents import CloudEvent
from pao_common.errors import (
    ActionError,
    ActionTimeout,
    InvalidActionInputs,
    InvalidMessage,
    UnknownActionType,
)
from pao_common.executor.breaker import CircuitBreakers
from pao_common.executor.context import ActionContext
from pao_common.executor.dedup import Claim, Command, DedupStore
from pao_common.executor.metrics import ACTION_DURATION, ACTIONS, DUPLICATES, IN_FLIGHT
from pao_common.executor.registry import Executor, Outputs, Route
from pao_common.executor.secrets import SecretResolver
from pao_common.kafka import TRANSIENT_ERRORS, publish_event
from pao_common.logs import bind_context
from pao_common.messages import (
    ActionFailed,
    ActionProgress,
    ActionStarted,
    ActionSucceeded,
    CompensateAction,
    ExecuteAction,
    Message,
    to_cloudevent,
)
from pao_common.telemetry import (
    context_from_traceparent,
    current_traceparent,
    message_attributes,
    recording,
)

log = logging.getLogger("pao.executor")
tracer = trace.get_tracer("pao.executor")
T = TypeVar("T")

# An action answered within this long is not reported started (see the module docstring).
STARTED_AFTER_S = 1.0

# Unexpected exceptions of these kinds say "the world hiccuped", so another attempt may work.
RETRYABLE_UNEXPECTED: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)


class ResultPublisher(Protocol):
    """Where an executor's answers go."""

    async def publish(self, event: CloudEvent) -> None:
        """Publish one result event (keyed by its subject, the request id)."""
        ...


class KafkaResultPublisher:
    """Publishes to ``pao.actions.results`` through the service's broker."""

    def __init__(self, broker: Any, topic: str) -> None:
        self._broker = broker
        self._topic = topic

    async def publish(self, event: CloudEvent) -> None:
        await publish_event(self._broker, self._topic, event)


def default_instance(family: str) -> str:
    return f"{family}@{socket.gethostname()}:{os.getpid()}"


class ActionRunner:
    """Takes commands of one executor family and answers each exactly once."""

    def __init__(
        self,
        executor: Executor,
        *,
        dedup: DedupStore,
        publisher: ResultPublisher,
        secrets: SecretResolver | None = None,
        instance: str | None = None,
        retry_initial_s: float = 0.2,
        started_after_s: float = STARTED_AFTER_S,
    ) -> None:
        self.executor = executor
        self.dedup = dedup
        self.publisher = publisher
        self.secrets = secrets or SecretResolver()
        self.redactor = self.secrets.redactor
        self.instance = instance or default_instance(executor.family)
        self.source = executor.service_name
        self.breakers = CircuitBreakers(
            executor.family,
            failure_threshold=executor.circuit_failure_threshold,
            reset_timeout_s=executor.circuit_reset_timeout_s,
        )
        self._retry_initial_s = retry_initial_s
        self._started_after_s = started_after_s
        self._slots = asyncio.Semaphore(executor.max_concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # command id -> the last of its informational events still on their way
        self._emitting: dict[str, asyncio.Task[None]] = {}
        self._ready = asyncio.Event()
        self._stopping = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------------

    def mark_ready(self) -> None:
        """Start taking commands (after the executor's start hooks have run)."""
        self._ready.set()

    @property
    def running(self) -> list[str]:
        """Command ids running in this process now."""
        return list(self._tasks)

    async def wait_idle(self) -> None:
        """Wait until no action of this process is running."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def drain(self, timeout_s: float | None = None) -> None:
        """Stop taking commands; give running actions ``timeout_s``, then cancel them.

        A cancelled action is answered with a retryable ``ActionFailed``
        (``ExecutorStopped``) so the orchestrator retries it elsewhere at once.
        """
        self._stopping.set()
        tasks = list(self._tasks.values())
        if tasks:
            wait_s = self.executor.drain_timeout_s if timeout_s is None else timeout_s
            log.info("draining %d running action(s) for up to %.0fs", len(tasks), wait_s)
            _, pending = await asyncio.wait(tasks, timeout=wait_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*self._emitting.values(), return_exceptions=True)

    # --- the subscriber -------------------------------------------------------------------

    async def handle(self, message: Message, event: CloudEvent) -> None:
        """Claim ``message`` and start it, answer it again, or ignore it as running."""
        if not isinstance(message, ExecuteAction | CompensateAction):
            raise InvalidMessage(f"executor cannot handle {message.ce_type}")
        if self._stopping.is_set():
            # Leave it unacknowledged: the broker hands it to an instance that is up.
            await asyncio.Event().wait()
        await self._ready.wait()
        family = self.executor.family
        if message.command_id in self._tasks:
            DUPLICATES.labels(family, "running").inc()
            log.info("command %s is running here already; ignoring the copy", message.command_id)
            return
        await self._slots.acquire()
        try:
            claim = await self.dedup.claim(
                message,
                executor=family,
                owner=self.instance,
                lease_s=message.timeout_s + self.executor.lease_grace_s,
            )
        except BaseException:
            self._slots.release()
            raise
        if claim.state != "claimed":
            self._slots.release()
            await self._answer_duplicate(message, claim)
            return
        if claim.takeover:
            log.warning("command %s: earlier claim expired; running it", message.command_id)
        # The run continues the consumer's span when spans are recorded, else the command's.
        traceparent = (current_traceparent() if recording() else None) or event.traceparent
        task = asyncio.create_task(
            self._run(message, traceparent), name=f"action-{message.command_id}"
        )
        self._tasks[message.command_id] = task
        task.add_done_callback(lambda _: self._done(message.command_id))

    def _done(self, command_id: str) -> None:
        self._tasks.pop(command_id, None)
        self._slots.release()

    async def _answer_duplicate(self, command: Command, claim: Claim) -> None:
        DUPLICATES.labels(self.executor.family, claim.state).inc()
        if claim.state == "completed" and claim.result is not None:
            log.info("command %s was answered before; answering again", command.command_id)
            await self.publisher.publish(claim.result)
        else:
            log.info("command %s is running elsewhere; ignoring the copy", command.command_id)

    # --- running one command --------------------------------------------------------------

    async def _run(self, command: Command, traceparent: str | None) -> None:
        kind = "compensate" if isinstance(command, CompensateAction) else "execute"
        declared = command.action_type in self.executor.action_types
        label = command.action_type if declared else "unknown"
        family = self.executor.family
        started = time.perf_counter()
        IN_FLIGHT.labels(family).inc()
        parent = cast(Context, context_from_traceparent(traceparent))
        with (
            bind_context(command_id=command.command_id, step_id=command.step_id),
            tracer.start_as_current_span(
                f"{kind} {command.action_type}",
                context=parent,
                attributes=message_attributes(command) if recording() else None,
            ),
        ):
            try:
                result, outcome = await self._attempt(command)
            except asyncio.CancelledError:
                result = self._failed(
                    command,
                    "executor stopped before the action finished",
                    retryable=True,
                    error_type="ExecutorStopped",
                )
                outcome = "retryable_failure"
            finally:
                IN_FLIGHT.labels(family).dec()
            ACTIONS.labels(family, label, kind, outcome).inc()
            ACTION_DURATION.labels(family, label, kind, outcome).observe(
                time.perf_counter() - started
            )
            log.info("%s %s attempt %d: %s", kind, command.action_type, command.attempt, outcome)
            await self._answer(command, result)

    def _base(self, command: Command) -> dict[str, Any]:
        return {
            "command_id": command.command_id,
            "request_id": command.request_id,
            "step_id": command.step_id,
            "attempt": command.attempt,
            "executor": self.instance,
            "action_type": command.action_type,
            "compensation": isinstance(command, CompensateAction),
        }

    def _failed(
        self,
        command: Command,
        error: str,
        *,
        retryable: bool,
        error_type: str,
        outputs: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> ActionFailed:
        return ActionFailed(
            **self._base(command),
            error=error,
            retryable=retryable,
            error_type=error_type,
            outputs=outputs or {},
            details=details or {},
        )

    async def _attempt(self, command: Command) -> tuple[ActionSucceeded | ActionFailed, str]:
        """Run the handler; the answer and the metrics outcome (never raises but cancel)."""
        base = self._base(command)
        started = _StartedReport(
            lambda: self._emit(ActionStarted(**base)), after_s=self._started_after_s
        )
        try:
            return await self._run_handler(command, started)
        finally:
            started.cancel()

    async def _run_handler(
        self, command: Command, started: _StartedReport
    ) -> tuple[ActionSucceeded | ActionFailed, str]:
        try:
            route = (
                self.executor.route_compensate(command.action_type)
                if isinstance(command, CompensateAction)
                else self.executor.route_execute(command.action_type)
            )
        except UnknownActionType as exc:
            return self._failed(
                command, str(exc), retryable=False, error_type="UnknownActionType"
            ), "failed"
        context = self._context(command, started)
        timeout = asyncio.timeout(command.timeout_s)
        try:
            async with timeout:
                inputs = self._validate(route, self.secrets.resolve(command.inputs))
                outputs = self._jsonable(route, await route.handler(inputs, context))
            return ActionSucceeded(**self._base(command), outputs=outputs), "succeeded"
        except TimeoutError as exc:
            if not timeout.expired():
                return self._unexpected(command, exc)
            error = ActionTimeout(
                f"{command.action_type} did not finish within {command.timeout_s:g}s"
            )
            return self._failed(
                command, error.message, retryable=True, error_type="ActionTimeout"
            ), "timed_out"
        except InvalidActionInputs as exc:
            return self._failed(
                command,
                exc.message,
                retryable=False,
                error_type="InvalidActionInputs",
                details={"fields": exc.field_errors},
            ), "invalid_inputs"
        except ActionError as exc:
            failed = self._failed(
                command,
                exc.message,
                retryable=exc.retryable,
                error_type=type(exc).__name__,
                outputs=exc.outputs,
            )
            return failed, "retryable_failure" if exc.retryable else "failed"
        except Exception as exc:
            return self._unexpected(command, exc)

    def _unexpected(self, command: Command, exc: Exception) -> tuple[ActionFailed, str]:
        log.exception("%s raised an unexpected %s", command.action_type, type(exc).__name__)
        retryable = isinstance(exc, RETRYABLE_UNEXPECTED)
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return self._failed(
            command, error, retryable=retryable, error_type=type(exc).__name__
        ), "crashed"

    def _validate(self, route: Route, inputs: Any) -> BaseModel:
        try:
            return route.inputs.model_validate(inputs)
        except ValidationError as exc:
            fields = [
                {
                    "field": ".".join(str(p) for p in err["loc"]) or "<inputs>",
                    "message": err["msg"],
                }
                for err in exc.errors(include_input=False, include_url=False)
            ]
            listed = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
            raise InvalidActionInputs(
                f"invalid inputs for {route.action_type}: {listed}", fields
            ) from None

    @staticmethod
    def _jsonable(route: Route, outputs: Outputs) -> dict[str, Any]:
        if outputs is None:
            return {}
        try:
            data = to_jsonable_python(outputs)
        except PydanticSerializationError as exc:
            raise ActionError(f"outputs of {route.action_type} are not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ActionError(
                f"outputs of {route.action_type} must be a mapping, got {type(outputs).__name__}"
            )
        return data

    def _context(self, command: Command, started: _StartedReport) -> ActionContext:
        base = self._base(command)

        async def report(message: str, percent: float | None) -> None:
            started.send()  # so that consumers see ActionStarted before any progress
            self._emit(ActionProgress(**base, message=message, percent=percent))

        return ActionContext(
            command=command,
            executor=self.instance,
            log=logging.getLogger(f"pao.executor.{self.executor.family}"),
            secrets=self.secrets,
            breakers=self.breakers,
            deadline=time.monotonic() + command.timeout_s,
            _report=report,
        )

    # --- answering ------------------------------------------------------------------------

    def _event(self, message: Message) -> CloudEvent:
        scrubbed = message
        if self.redactor.active:  # else nothing to mask: spare the round trip
            scrubbed = type(message).model_validate(self.redactor.scrub(message.model_dump()))
        request_id = getattr(scrubbed, "request_id", None)
        event = to_cloudevent(scrubbed, source=self.source, subject=request_id)
        if traceparent := current_traceparent():
            event = event.model_copy(update={"traceparent": traceparent})
        return event

    def _emit(self, message: ActionStarted | ActionProgress) -> None:
        """Best effort and in the background: a lost ``ActionStarted``/``ActionProgress``
        costs nothing, so the action does not wait for the broker's ack. One command's
        events still go out in order, and before its answer (``_answer`` waits for them)."""
        event = self._event(message)
        previous = self._emitting.get(message.command_id)

        async def publish() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await self.publisher.publish(event)
            except Exception as exc:
                log.warning("could not publish %s: %r", message.ce_type, exc)

        task = asyncio.create_task(publish())
        self._emitting[message.command_id] = task

        def done(_: asyncio.Task[None]) -> None:
            if self._emitting.get(message.command_id) is task:
                del self._emitting[message.command_id]

        task.add_done_callback(done)

    async def _answer(self, command: Command, result: ActionSucceeded | ActionFailed) -> None:
        """Record the answer, then publish it, retrying while infrastructure is down."""
        event = self._event(result)
        if (emitting := self._emitting.get(command.command_id)) is not None:
            await asyncio.gather(emitting, return_exceptions=True)
        answer = await self._retrying(
            "record the answer", lambda: self.dedup.complete(command.command_id, event), event
        )
        await self._retrying("publish the answer", lambda: self.publisher.publish(answer), None)

    async def _retrying(self, what: str, operation: Callable[[], Awaitable[T]], fallback: T) -> T:
        delay = self._retry_initial_s
        while True:
            try:
                return await operation()
            except TRANSIENT_ERRORS as exc:
                log.warning("could not %s (%r); retrying in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except Exception:
                log.exception("could not %s", what)
                return fallback


class _StartedReport:
    """Sends a command's ``ActionStarted`` at most once: after ``after_s``, or at once when
    the action reports progress sooner; never once it has been answered (``cancel``)."""

    def __init__(self, send: Callable[[], None], *, after_s: float) -> None:
        self._send: Callable[[], None] | None = send
        self._timer = asyncio.get_running_loop().call_later(after_s, self.send)

    def send(self) -> None:
        if (send := self._send) is not None:
            self.cancel()
            send()

    def cancel(self) -> None:
        self._send = None
        self._timer.cancel()
