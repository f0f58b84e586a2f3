"""A channel's incoming buffer that hands out the head of what arrived without moving the rest.

paramiko keeps what arrived on a channel in one ``array`` and deletes the head of it on every
read: each read moves every byte still waiting. The gateway opens a 128 MiB window (a slow
WAN needs it in flight), so when the SFTP thread falls behind the transport thread, what waits
grows, each read of a ~32 KiB request moves megabytes, and the thread falls further behind:
on this machine kind an OpenSSH upload ran at 68-81 MB/s with 41 % of the gateway's samples in
that one ``del`` (py-spy), where the same code had run at 127 MB/s on a faster CPU.

``FastPipe`` keeps a read offset instead and drops the consumed head only once it is at least
half of the buffer, so each byte is moved at most once more: a read costs what it returns.
"""
from __future__ import annotations

import paramiko
from paramiko.buffered_pipe import BufferedPipe

COMPACT_AT = 1 << 20  # bytes consumed before the head is dropped (and at least half the buffer)


class _Bytes:
    """The few operations ``BufferedPipe`` performs on its buffer, over a bytearray and a read
    offset: ``len``, ``frombytes``, ``[:n].tobytes()`` (through ``FastPipe._buffer_tobytes``)
    and ``del [:n]`` / ``del [:]``."""

    __slots__ = ("data", "start")

    def __init__(self) -> None:
        self.data = bytearray()
        self.start = 0

    def __len__(self) -> int:
        return len(self.data) - self.start

    def frombytes(self, chunk: bytes) -> None:
        self.data += chunk

    def head(self, limit: int | None) -> bytes:
        end = len(self.data) if limit is None else min(len(self.data), self.start + limit)
        with memoryview(self.data) as view:  # released at once: a bytearray cannot resize while viewed
            return bytes(view[self.start:end])

    def __delitem__(self, index: slice) -> None:
        if not isinstance(index, slice) or index.start is not None or index.step is not None:
            raise TypeError("only the head of the buffer is ever deleted")
        if index.stop is None or self.start + index.stop >= len(self.data):
            self.data.clear()
            self.start = 0
            return
        self.start += index.stop
        if self.start >= COMPACT_AT and self.start * 2 >= len(self.data):
            del self.data[:self.start]
            self.start = 0


class FastPipe(BufferedPipe):
    """paramiko's ``BufferedPipe`` (locking, waiting, closing all its own) over ``_Bytes``."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = _Bytes()

    def _buffer_frombytes(self, data: bytes) -> None:
        self._buffer.frombytes(data)

    def _buffer_tobytes(self, limit: int | None = None) -> bytes:
        return self._buffer.head(limit)


def use_fast_pipe(channel: paramiko.Channel) -> None:
    """Give ``channel`` a ``FastPipe`` for what it receives, keeping what already arrived. Call
    it from the transport's own thread (a ``ServerInterface`` hook) before the channel has a
    reader: only that thread feeds the buffer, so nothing arrives while it is swapped."""
    waiting = channel.in_buffer.empty()
    pipe = FastPipe()
    if waiting:
        pipe.feed(waiting)
    channel.in_buffer = pipe
