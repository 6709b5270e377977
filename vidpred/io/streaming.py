"""Overlap decoding and encoding with compute: FFmpeg (PyAV) and PIL release the GIL while they
work, so a reader thread and a writer thread run beside the model at little cost."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], *, depth: int = 16) -> Iterator[T]:
    """Iterate `items` in a background thread, at most `depth` ahead; exceptions are re-raised
    in the consumer. Memory stays bounded by `depth` items."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_DONE)
        except BaseException as e:  # handed to the consumer
            q.put(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.01)


class BackgroundSink:
    """Calls `consume(item)` for each `put(item)` in a worker thread, in order. `close()` waits for
    the queue to drain and re-raises the first error the worker hit."""

    def __init__(self, consume: Callable[[T], None], *, depth: int = 16) -> None:
        self._consume = consume
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._q.get()) is not _DONE:
            if self._error is None:
                try:
                    self._consume(item)
                except BaseException as e:
                    self._error = e

    def put(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        self._q.put(item)

    def close(self) -> None:
        self._q.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error
