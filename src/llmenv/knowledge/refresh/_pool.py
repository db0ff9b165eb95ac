"""A pool of daemon worker threads that an interrupt can walk away from.

``concurrent.futures.ThreadPoolExecutor`` joins its workers when the interpreter exits, so a Ctrl-C during a
refresh waited for every request in flight (up to its timeout: 27 s seen). Here the workers are daemon threads:
on an interrupt the queue is dropped, the event set (loops that read in chunks check it), and the process exits
without waiting for sockets to answer. Results come back as ordinary ``Future`` objects.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, TypeVar

__all__ = ["Cancelled", "Pool", "wait_all"]

T = TypeVar("T")
_POLL = 0.2  # seconds between checks for an interrupt while waiting


class Cancelled(Exception):
    """The pool was shut down before this job ran (or while it ran)."""


class Pool:
    """``submit(fn, *args) -> Future``; ``cancel`` is set when the pool is abandoned."""

    def __init__(self, workers: int, *, name: str = "llmenv-worker") -> None:
        self.cancel = threading.Event()
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            fut, fn, args = item
            if self.cancel.is_set():
                fut.set_exception(Cancelled())
                continue
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # handed to whoever waits on the future
                fut.set_exception(e)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        fut: Future[T] = Future()
        if self.cancel.is_set():
            fut.set_exception(Cancelled())
        else:
            self._jobs.put((fut, fn, args))
        return fut

    def close(self) -> None:
        """No more jobs: the workers end once the queue is drained (nobody waits for them)."""
        for _ in self._threads:
            self._jobs.put(None)

    def abandon(self) -> None:
        """Stop now: queued jobs are dropped, running ones see ``cancel``; nothing is joined."""
        self.cancel.set()
        self.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()


def wait_all(futures: Iterable[Future[Any]]) -> Iterable[Future[Any]]:
    """Yield futures as they finish, waking up regularly so that Ctrl-C reaches the waiting thread."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=_POLL, return_when=FIRST_COMPLETED)
        yield from done
