"""The gateway's channel buffer (gateway/pipe.py): paramiko's reads, without moving what waits."""
from __future__ import annotations

import io
import random
import threading

import pytest
from paramiko.buffered_pipe import BufferedPipe, PipeTimeout

from gateway import pipe
from gateway.pipe import COMPACT_AT, FastPipe
from tests.gateway.conftest import big_package


def test_it_reads_what_paramikos_pipe_reads_in_any_order_of_feeds_and_reads() -> None:
    draw = random.Random(7)
    theirs, ours = BufferedPipe(), FastPipe()
    for _ in range(3000):
        if draw.random() < 0.4:
            chunk = draw.randbytes(draw.choice((1, 13, 4096, 70_000, 300_000)))
            theirs.feed(chunk)
            ours.feed(chunk)
        elif len(theirs):
            n = draw.choice((1, 4, 13, 32_768, 1 << 21))
            assert ours.read(n) == theirs.read(n)
        assert len(ours) == len(theirs) and ours.read_ready() == theirs.read_ready()
    assert ours.empty() == theirs.empty()
    assert len(ours) == 0


def test_a_read_moves_nothing_that_still_waits_until_half_the_buffer_is_read() -> None:
    fed = random.Random(1).randbytes(4 * COMPACT_AT)
    p = FastPipe()
    p.feed(fed)
    out = io.BytesIO()
    while len(p) > 2 * COMPACT_AT + 4:  # under half read: the bytes stay where they arrived
        out.write(p.read(4))
        assert len(p._buffer.data) == len(fed)
    while len(p):
        out.write(p.read(32_768))
        assert len(p._buffer.data) - p._buffer.start == len(p)
    assert out.getvalue() == fed
    assert len(p._buffer.data) == 0  # a read of everything clears the buffer


def test_a_reader_waits_for_a_feed_times_out_and_ends_on_close() -> None:
    p = FastPipe()
    with pytest.raises(PipeTimeout):
        p.read(10, timeout=0.05)
    threading.Timer(0.05, p.feed, args=(b"late",)).start()
    assert p.read(10, timeout=5) == b"late"
    p.feed(b"tail")
    p.close()
    assert p.read(2) == b"ta" and p.read(10) == b"il" and p.read(10) == b""


def test_the_gateways_sftp_sessions_read_through_it(gateway, connect, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    read = []
    original = FastPipe._buffer_tobytes

    def counted(self, limit=None):  # type: ignore[no-untyped-def]
        data = original(self, limit)
        read.append(len(data))
        return data

    monkeypatch.setattr(pipe.FastPipe, "_buffer_tobytes", counted)
    payload = big_package(3 << 20)
    sftp = connect("520122")
    with sftp.open("inbox/big.zip.part", "wb") as f:
        f.write(payload)
    assert sum(read) >= len(payload)  # every byte of the upload came through a FastPipe
