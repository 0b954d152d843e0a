"""Where a sweep's jobs run: the :class:`Executor` protocol and its two executors.

The scheduler (:mod:`medlethe.sweep.schedule`) submits every job with the handles of the
jobs it depends on as arguments, then takes finished jobs one at a time and writes each
as it comes. An executor only runs functions: :class:`Local` one at a time in this process
(in the order they were submitted, which respects the dependencies), :class:`Ray` as Ray
tasks that declare the plan's CPUs and GPUs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class SkippedError(Exception):
    """A job not run because a job it depends on failed."""


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``fn(*args)`` and its seconds, measured where it ran (not in a queue)."""
    t0 = time.perf_counter()
    return fn(*args), time.perf_counter() - t0


def first(pair: tuple[Any, float]) -> Any:
    """The value of a :func:`timed` pair."""
    return pair[0]


class Executor(Protocol):
    """Runs functions whose arguments may be handles of earlier submissions."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A handle of ``fn(*args)``, where each handle among ``args`` stands for its value
        (a function of a failed handle fails with :class:`SkippedError`)."""

    def put(self, value: Any) -> Any:
        """A handle of a value at hand."""

    def next_done(self, handles: Sequence[Any]) -> Any:
        """One of ``handles`` whose function has finished."""

    def result(self, handle: Any) -> Any:
        """The value of a finished handle; its function's exception is raised."""


@dataclass(eq=False)  # a handle: hashed and compared by identity
class _Job:
    fn: Callable[..., Any] | None
    args: tuple[Any, ...]
    done: bool = False
    value: Any = None
    error: BaseException | None = None


@dataclass
class Local:
    """One function at a time, in this process, in the order they were submitted."""

    queue: list[_Job] = field(default_factory=list)

    def submit(self, fn: Callable[..., Any], *args: Any) -> _Job:
        job = _Job(fn, args)
        self.queue.append(job)
        return job

    def put(self, value: Any) -> _Job:
        return _Job(None, (), done=True, value=value)

    def next_done(self, handles: Sequence[Any]) -> _Job:
        done: _Job | None = next((h for h in handles if h.done), None)
        if done is not None:
            return done
        job = next(j for j in self.queue if not j.done and j in handles)
        self._run(job)
        return job

    def _run(self, job: _Job) -> None:
        for dep in (a for a in job.args if isinstance(a, _Job)):
            if not dep.done:
                self._run(dep)
        job.done = True
        if any(isinstance(a, _Job) and a.error is not None for a in job.args):
            job.error = SkippedError("skipped: its target, oracle or reference runs failed "
                                     "(see the errors above)")
            return
        args = [a.value if isinstance(a, _Job) else a for a in job.args]
        try:
            assert job.fn is not None
            job.value = job.fn(*args)
        except Exception as exc:  # one failing job must not stop the others
            job.error = exc

    def result(self, handle: _Job) -> Any:
        if handle.error is not None:
            raise handle.error
        return handle.value


class Ray:
    """Each function a Ray task declaring ``num_cpus`` and ``num_gpus``; handles are object
    references, so a task starts when the tasks it depends on have finished. Workers need
    the same medlethe, the same plugins and a shared ``MEDLETHE_CACHE_DIR``."""

    def __init__(self, num_cpus: float, num_gpus: float, address: str | None = None) -> None:
        from medlethe._optional import optional_import

        self.ray = optional_import(
            "ray", component="the Ray executor", install="pip install 'medlethe[ray]'"
        )
        if not self.ray.is_initialized():
            env = {k: v for k, v in os.environ.items()
                   if k.startswith(("MEDLETHE_", "HF_", "TRANSFORMERS_"))}
            self.ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False)
        self.options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": 0}
        self.tasks: dict[Any, Any] = {}

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        light = fn is first  # picking a value out needs no CPU of its own
        if fn not in self.tasks:
            self.tasks[fn] = self.ray.remote(**({"num_cpus": 0} if light else self.options))(fn)
        return self.tasks[fn].remote(*args)

    def put(self, value: Any) -> Any:
        return self.ray.put(value)

    def next_done(self, handles: Sequence[Any]) -> Any:
        ready, _ = self.ray.wait(list(handles), num_returns=1)
        return ready[0]

    def result(self, handle: Any) -> Any:
        try:
            return self.ray.get(handle)
        except Exception as exc:
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, Exception):
                raise cause from None
            raise
