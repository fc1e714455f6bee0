"""How a cold start or an invocation ended, as typed values, and their classification (pure).

An event in flight ends in one of three ways: the runtime answers (:class:`RuntimeAnswer`,
from its Runtime API channel), its process exits (:class:`ProcessExited`), or the deadline
passes (:class:`DeadlinePassed`). :func:`classify` turns that ending into the invocation's
outcome — :class:`Answered`, :class:`FunctionFailed`, :class:`Exited`,
:class:`OutOfMemory` or :class:`TimedOut` — and each outcome knows what Lambda answers
(payload, ``X-Amz-Function-Error``), what the REPORT ``status`` is, which platform lines
the log gets before ``END``, and whether the environment may serve again.

INIT ends as :class:`Ready` or :class:`InitFailed` (:func:`classify_init`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lamina.logs import lines
from lamina.models.invocation import FunctionError, Outcome
from lamina.runtime_api.channel import InitFailure, RuntimeAnswer
from lamina.scheduler import error_bodies

# -- how an event in flight ended -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessExited:
    """The runtime process ended while an event was in flight."""

    status: int  # exit code, 128 + signal, or minus the signal
    at: float  # perf_counter()


@dataclass(frozen=True, slots=True)
class DeadlinePassed:
    """The function's timeout passed before the runtime answered."""

    at: float  # perf_counter()


@dataclass(frozen=True, slots=True)
class ExtensionCrashed:
    """An extension's process ended while an event was in flight (after INIT):
    ``error_type`` is ``Extension.Crash``, or ``Extension.ExitError`` after its
    ``/exit/error``."""

    name: str
    at: float  # perf_counter()
    error_type: str = "Extension.Crash"


PlatformEnd = ProcessExited | DeadlinePassed | ExtensionCrashed
Ending = RuntimeAnswer | PlatformEnd


# -- what the invocation's outcome is -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RuntimePosted:
    """The runtime posted ``body`` (a response or an error) and the environment stays usable;
    the platform adds no log lines."""

    body: bytes
    reusable: ClassVar[bool] = True

    @property
    def payload(self) -> bytes:
        return self.body

    def log_lines(self, now: float) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class Answered(_RuntimePosted):
    """The handler returned; ``body`` is its response."""

    status: ClassVar[Outcome] = Outcome.SUCCESS
    unhandled: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class FunctionFailed(_RuntimePosted):
    """The runtime posted an error (the handler raised, or its answer was unusable);
    ``body`` is Lambda's error body for it."""

    status: ClassVar[Outcome] = Outcome.ERROR
    unhandled: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Exited:
    """The runtime process ended mid-invoke (a crash, ``sys.exit``, a signal)."""

    request_id: str
    exit_status: int
    status: ClassVar[Outcome] = Outcome.ERROR
    unhandled: ClassVar[bool] = True
    reusable: ClassVar[bool] = False
    oom: ClassVar[bool] = False

    @property
    def error(self) -> FunctionError:
        return error_bodies.runtime_exited(self.exit_status, self.oom, self.request_id)

    @property
    def payload(self) -> bytes:
        return self.error.to_json()

    def log_lines(self, now: float) -> tuple[str, ...]:
        error = self.error
        return (error.error_message, error.error_type)


@dataclass(frozen=True, slots=True)
class OutOfMemory(Exited):
    """The environment's memory cgroup killed the runtime (``Runtime.OutOfMemory``)."""

    oom: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The function ran past its timeout; the environment is discarded."""

    request_id: str
    timeout_s: float
    status: ClassVar[Outcome] = Outcome.TIMEOUT
    unhandled: ClassVar[bool] = True
    reusable: ClassVar[bool] = False

    @property
    def payload(self) -> bytes:
        return error_bodies.task_timeout(self.request_id, self.timeout_s).to_json()

    def log_lines(self, now: float) -> tuple[str, ...]:
        return (lines.timeout_line(self.request_id, self.timeout_s, now),)


@dataclass(frozen=True, slots=True)
class ExtensionFailed:
    """An extension crashed mid-invoke: Lambda answers ``Extension.Crash`` (or
    ``Extension.ExitError``, after an ``/exit/error``) and resets the environment."""

    request_id: str
    name: str
    error_type: str = "Extension.Crash"
    status: ClassVar[Outcome] = Outcome.ERROR
    unhandled: ClassVar[bool] = True
    reusable: ClassVar[bool] = False

    @property
    def error(self) -> FunctionError:
        return FunctionError(
            self.error_type,
            f"RequestId: {self.request_id} Error: extension {self.name} exited",
        )

    @property
    def payload(self) -> bytes:
        return self.error.to_json()

    @property
    def state(self) -> str:
        """The extension's state as its EXTENSION line and platform.extension name it."""
        return "ExitError" if self.error_type == "Extension.ExitError" else "Crashed"

    def log_lines(self, now: float) -> tuple[str, ...]:
        return (f"EXTENSION\tName: {self.name}\tState: {self.state}",)


InvokeOutcome = Answered | FunctionFailed | Exited | OutOfMemory | TimedOut | ExtensionFailed


def classify(ending: Ending, request_id: str, timeout_s: float, oom: bool) -> InvokeOutcome:
    """The outcome of an event that ended with ``ending``; ``oom`` is whether the
    environment's cgroup saw an OOM kill (only read for an exit)."""
    if isinstance(ending, DeadlinePassed):
        return TimedOut(request_id, timeout_s)
    if isinstance(ending, ExtensionCrashed):
        return ExtensionFailed(request_id, ending.name, ending.error_type)
    if isinstance(ending, ProcessExited):
        return (OutOfMemory if oom else Exited)(request_id, ending.status)
    if ending.ok:
        return Answered(ending.body)
    if ending.too_large:
        return FunctionFailed(error_bodies.response_too_large())
    return FunctionFailed(error_bodies.invoke_error_body(ending.body, ending.error_type))


# -- how INIT ended -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    """INIT is done: ``init_ms`` is the REPORT's ``Init Duration``, or None for an
    environment restored from a zygote (which reports ``restore`` instead)."""

    init_ms: float | None
    restore: lines.Restore | None = None


@dataclass(frozen=True, slots=True)
class InitFailed:
    """INIT failed or timed out; the invoke answers ``error`` and the environment is gone."""

    error: FunctionError
    init_ms: float
    timed_out: bool = False

    @property
    def status(self) -> Outcome:
        return Outcome.TIMEOUT if self.timed_out else Outcome.ERROR

    def payload(self, request_id: str) -> bytes:
        return error_bodies.init_failure_body(self.error, request_id)


InitOutcome = Ready | InitFailed


def classify_init(
    *,
    t0: float,
    now: float,
    limit_s: float,
    ready_at: float | None,
    failure: InitFailure | None,
    exit_status: int | None,
    oom: bool,
) -> InitOutcome:
    """How one INIT attempt started at ``t0`` ended, by what happened first: the runtime's
    first ``/next`` (``ready_at``), its ``/init/error``, its exit, or none within
    ``limit_s`` (a timeout, which the caller may retry)."""
    if ready_at is not None:
        return Ready((ready_at - t0) * 1000)
    init_ms = (now - t0) * 1000
    if failure is not None:
        post = error_bodies.parse_error_post(failure.body)
        return InitFailed(error_bodies.init_error(post, failure.error_type), init_ms)
    if exit_status is not None:
        return InitFailed(error_bodies.runtime_exited(exit_status, oom, None), init_ms)
    return InitFailed(error_bodies.init_timeout(limit_s), init_ms, timed_out=True)
