"""Counties side by side, each county's packages in order."""
from __future__ import annotations

import threading

import pytest

from ncms.ingest.parallel import by_county


def test_counties_run_at_the_same_time():
    both_running = threading.Barrier(2, timeout=10)  # breaks (and fails the test) if run one by one

    def work(item: str) -> str:
        both_running.wait()
        return item.upper()

    assert by_county([("520121", "a"), ("520122", "b")], work, jobs=2) == ["A", "B"]


def test_one_county_runs_in_order_and_results_keep_the_input_order():
    seen: list[str] = []
    lock = threading.Lock()

    def work(item: str) -> str:
        with lock:
            seen.append(item)
        return item

    items = [("A", "a1"), ("B", "b1"), ("A", "a2"), ("B", "b2"), ("A", "a3")]
    assert by_county(items, work, jobs=2) == ["a1", "b1", "a2", "b2", "a3"]
    assert [i for i in seen if i.startswith("a")] == ["a1", "a2", "a3"]
    assert [i for i in seen if i.startswith("b")] == ["b1", "b2"]


def test_on_done_is_never_called_from_two_threads_at_once():
    inside = threading.Semaphore(1)
    overlaps = []

    def done(item: int, result: int) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(item)
            return
        try:
            threading.Event().wait(0.01)
        finally:
            inside.release()

    by_county([(n % 4, n) for n in range(20)], lambda n: n, jobs=4, on_done=done)
    assert overlaps == []


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failure_stops_its_county_only_and_is_raised_at_the_end(jobs):
    done: list[str] = []

    def work(item: str) -> str:
        if item == "a2":
            raise RuntimeError("a2 broke")
        return item

    items = [("A", "a1"), ("A", "a2"), ("A", "a3"), ("B", "b1"), ("B", "b2")]
    with pytest.raises(RuntimeError, match="a2 broke"):
        by_county(items, work, jobs=jobs, on_done=lambda item, _: done.append(item))
    assert "a3" not in done  # a later package of the same county may depend on the failed one
    assert {"a1", "b1", "b2"} <= set(done)


def test_the_county_with_most_work_starts_first():
    started: list[str] = []

    def work(item: tuple[str, int]) -> str:
        started.append(item[0])
        return item[0]

    items = [("A", ("a1", 10)), ("B", ("b1", 50)), ("C", ("c1", 20)), ("A", ("a2", 30))]
    results = by_county(items, work, jobs=1, size=lambda item: item[1])
    assert started == ["b1", "a1", "a2", "c1"]  # B 50, A 10 + 30, C 20; A still in its own order
    assert results == ["a1", "b1", "c1", "a2"]  # in the order given
