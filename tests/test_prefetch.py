"""The read-ahead thread behind ingestion: same items, errors passed on, no thread left behind."""
from __future__ import annotations

import threading
import time

import pytest

from ncms.ingest.prefetch import prefetch


def test_yields_everything_in_order():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))


def test_producer_error_reaches_the_consumer():
    def broken():
        yield 1
        raise ValueError("bad chunk")

    got = []
    with pytest.raises(ValueError, match="bad chunk"):
        for item in prefetch(broken()):
            got.append(item)
    assert got == [1]


def test_consumer_stopping_early_stops_the_producer():
    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    before = threading.active_count()
    stream = prefetch(endless(), depth=1)
    assert next(stream) == 0
    stream.close()
    time.sleep(0.3)
    assert threading.active_count() == before
    assert len(produced) <= 3
