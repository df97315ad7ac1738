"""Coalesce concurrent calls into batches, with an answer (or an error) for each call alone.

The app's `/search` used Gradio's ``batch=True``, which hands simultaneous calls to one function
and fails every call of the batch when that function raises: one hostile request failed its
innocent neighbours. `Coalescer` keeps the shared batch (simultaneous queries for one encoder still
share one text-encoder call) but gives each caller its own outcome:

    batcher = Coalescer(run_batch, max_batch=16)   # run_batch(items) -> [result or exception, ...]
    result = batcher.submit(item)                  # blocks; raises this item's exception only

One worker thread runs one batch at a time. A call that arrives while a batch runs waits for the
next one, so an idle app adds no delay and a busy one batches what queued up meanwhile.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, Sequence

from ..fileio import log


class Coalescer:
    """Runs `run_batch(items)` on up to `max_batch` queued items at a time in one worker thread.

    `run_batch` returns one entry per item, in order: the item's result, or an exception instance
    that `submit` raises to that item's caller alone. If `run_batch` itself raises, that batch's
    callers all get the error, and the worker carries on with the next batch."""

    def __init__(self, run_batch: Callable[[Sequence[Any]], Sequence[Any]], max_batch: int = 16,
                 name: str = "coalescer") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}.")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.name = name
        self._queue: queue.SimpleQueue[tuple[Any, Future]] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, item: Any, timeout: float | None = None) -> Any:
        """`item`'s result, once its batch has run; raises `item`'s own error."""
        future: Future = Future()
        self._queue.put((item, future))
        self._ensure_worker()
        return future.result(timeout)

    def pending(self) -> int:
        """Calls queued and not yet taken into a batch."""
        return self._queue.qsize()

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._worker.start()

    def _serve(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._run(batch)

    def _run(self, batch: list[tuple[Any, Future]]) -> None:
        try:
            outcomes = list(self.run_batch([item for item, _ in batch]))
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{self.name}: {len(outcomes)} answers for {len(batch)} calls.")
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any batch
            log(f"{self.name}: a batch of {len(batch)} failed: {exc!r}")
            outcomes = [exc] * len(batch)
        for (_, future), outcome in zip(batch, outcomes):
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
