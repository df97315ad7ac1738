"""Coalescer: concurrent calls share batches, and each call gets its own answer or its own error."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lightclip_core.app.coalesce import Coalescer


def _wait_for(cond, timeout=10.0):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out"
        time.sleep(0.005)


def test_calls_queued_during_a_batch_share_the_next_one_and_get_their_own_answers():
    release = threading.Event()
    sizes = []

    def run_batch(items):
        sizes.append(len(items))
        if len(sizes) == 1:
            release.wait(10)  # the first batch holds the worker while seven more calls queue up
        return [ValueError(f"bad {x}") if x == 3 else x * 10 for x in items]

    batcher = Coalescer(run_batch, max_batch=16)
    with ThreadPoolExecutor(8) as ex:
        first = ex.submit(batcher.submit, 0)
        _wait_for(lambda: sizes == [1])
        rest = {x: ex.submit(batcher.submit, x) for x in range(1, 8)}
        _wait_for(lambda: batcher.pending() == 7)
        release.set()
        assert first.result(10) == 0
        for x, fut in rest.items():
            if x == 3:
                with pytest.raises(ValueError, match="bad 3"):  # only the poisoned call sees its error
                    fut.result(10)
            else:
                assert fut.result(10) == x * 10
    assert sizes == [1, 7]


def test_max_batch_splits_a_long_queue():
    release = threading.Event()
    sizes = []

    def run_batch(items):
        sizes.append(len(items))
        release.wait(10)
        return list(items)

    batcher = Coalescer(run_batch, max_batch=3)
    with ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(batcher.submit, 0)]
        _wait_for(lambda: sizes == [1])
        futs += [ex.submit(batcher.submit, x) for x in range(1, 8)]
        _wait_for(lambda: batcher.pending() == 7)
        release.set()
        assert [f.result(10) for f in futs] == list(range(8))
    assert sizes == [1, 3, 3, 1]


def test_a_batch_function_that_raises_fails_its_batch_only_and_the_worker_goes_on():
    calls = []

    def run_batch(items):
        calls.append(list(items))
        if items == ["boom"]:
            raise RuntimeError("the batch broke")
        return [f"ok {x}" for x in items]

    batcher = Coalescer(run_batch)
    with pytest.raises(RuntimeError, match="the batch broke"):
        batcher.submit("boom")
    assert batcher.submit("next") == "ok next"
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(run_batch, max_batch=0)


def test_a_batch_function_with_the_wrong_number_of_answers_is_an_error_not_a_hang():
    batcher = Coalescer(lambda items: [], name="short")
    with pytest.raises(RuntimeError, match="0 answers for 1 calls"):
        batcher.submit("x", timeout=10)


def test_a_slow_lane_holds_up_only_its_own_calls():
    """An encoder that loads (or encodes its gallery) for seconds must not stall the others' calls."""
    release = threading.Event()

    def run_batch(items):
        if items[0][0] == "slow":
            release.wait(10)
        return [f"{lane}:{x}" for lane, x in items]

    batcher = Coalescer(run_batch, lane=lambda item: item[0])
    with ThreadPoolExecutor(4) as ex:
        slow = ex.submit(batcher.submit, ("slow", 0))
        _wait_for(lambda: batcher.pending() == 0)  # the slow batch is running
        assert [batcher.submit(("fast", x), timeout=5) for x in range(3)] == ["fast:0", "fast:1", "fast:2"]
        assert not slow.done()
        with pytest.raises(TimeoutError, match="within 0.05 s"):  # a caller's budget: its own error, at once
            batcher.submit(("slow", 1), timeout=0.05)
        release.set()
        assert slow.result(10) == "slow:0"
    assert batcher.submit(("slow", 2), timeout=10) == "slow:2"  # the timed-out call ran; the lane goes on
