"""Coalesce concurrent calls into batches, with an answer (or an error) for each call alone.

The app's `/search` used Gradio's ``batch=True``, which hands simultaneous calls to one function
and fails every call of the batch when that function raises: one hostile request failed its
innocent neighbours. `Coalescer` keeps the shared batch (simultaneous queries for one encoder still
share one text-encoder call) but gives each caller its own outcome:

    batcher = Coalescer(run_batch, max_batch=16, lane=encoder_of)  # run_batch(items) -> [result or exception, ...]
    result = batcher.submit(item, timeout=20)  # blocks; raises this item's exception only

Each *lane* (here: each encoder) has its own queue and worker thread, which runs one batch at a time.
A call that arrives while its lane's batch runs waits for the next one, so an idle app adds no delay
and a busy one batches what queued up meanwhile; and a slow batch (an encoder loading, or encoding
its gallery on first use) holds up only the calls of its own lane, never the other encoders'.
`submit(timeout=...)` is a caller's time budget: past it, the caller gets `TimeoutError` (its call
still runs, so the next one finds the encoder ready).
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Hashable, Sequence

from ..fileio import log


class Coalescer:
    """Runs `run_batch(items)` on up to `max_batch` queued items at a time, one worker thread per lane.

    `run_batch` returns one entry per item, in order: the item's result, or an exception instance
    that `submit` raises to that item's caller alone. If `run_batch` itself raises, that batch's
    callers all get the error, and the worker carries on with the next batch. `lane(item)` names the
    item's lane (default: one lane for all); it must take few values (the caller maps anything
    unexpected to one catch-all lane), since each value keeps a thread."""

    def __init__(self, run_batch: Callable[[Sequence[Any]], Sequence[Any]], max_batch: int = 16,
                 name: str = "coalescer", lane: Callable[[Any], Hashable] | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}.")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.name = name
        self.lane = lane or (lambda item: None)
        self._queues: dict[Hashable, queue.SimpleQueue[tuple[Any, Future]]] = {}
        self._workers: dict[Hashable, threading.Thread] = {}
        self._start_lock = threading.Lock()

    def submit(self, item: Any, timeout: float | None = None) -> Any:
        """`item`'s result, once its batch has run; raises `item`'s own error, or `TimeoutError` when
        `timeout` seconds pass first."""
        future: Future = Future()
        self._lane_queue(self.lane(item)).put((item, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            raise TimeoutError(f"{self.name}: no answer within {timeout:g} s") from None

    def pending(self) -> int:
        """Calls queued and not yet taken into a batch, over all lanes."""
        return sum(q.qsize() for q in list(self._queues.values()))

    def _lane_queue(self, key: Hashable) -> queue.SimpleQueue:
        with self._start_lock:
            q = self._queues.setdefault(key, queue.SimpleQueue())
            worker = self._workers.get(key)
            if worker is None or not worker.is_alive():
                worker = threading.Thread(target=self._serve, args=(q,), name=f"{self.name}-{key}", daemon=True)
                self._workers[key] = worker
                worker.start()
            return q

    def _serve(self, q: queue.SimpleQueue) -> None:
        while True:
            batch = [q.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(q.get_nowait())
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
