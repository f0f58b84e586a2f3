"""Telling a live loader from a dead one: locks the operating system drops when a process dies.

A run killed with ``kill -9`` cleans nothing up, so whatever it owned — its work folders, a
package it took from an inbox, a batch it was loading — must say by itself that its owner
is gone. Each of these holds an exclusive ``flock`` on a small lock file for as long as it
is in use: the kernel releases it when the process ends however it ends (on NFS, the
server does when the client's lease runs out), so "the lock can be taken" means "the
owner is dead". A process id alone would not do: ids are reused, and with the data folder
on shared storage the owner may be another machine. Host and process id are still
recorded, so that a person can see who held what.

Every run keeps its work under one folder of its own, ``<data>/work/<host>-<pid>-<time>/``,
locked by ``.lock`` inside it for the life of the process.
"""
from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

LOCK = ".lock"


class FileLock:
    """An exclusive lock on a file, held until ``release`` or the end of the process.

    The locks this process holds are also kept in a set, and a file in it counts as held
    without asking the system: on NFS ``flock`` is a POSIX lock underneath, which a process
    never conflicts with itself on, and which closing any other handle of the file drops."""

    _mine: set[tuple[int, str]] = set()
    _mine_lock = threading.Lock()

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path
        self._remember(True)

    @classmethod
    def take(cls, path: Path, *, create: bool = False) -> FileLock | None:
        """The lock, or None when another process or this one holds it, or when the file is
        gone and ``create`` is false."""
        if cls.mine(path):
            return None
        try:
            fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(fd, path)

    @classmethod
    def mine(cls, path: Path) -> bool:
        return (os.getpid(), os.path.realpath(path)) in cls._mine

    def moved(self, path: Path) -> None:
        """The lock file (or a folder above it) was renamed to ``path``."""
        self._remember(False)
        self.path = path
        self._remember(True)

    def release(self, *, unlink: bool = False) -> None:
        if self.fd < 0:
            return
        if unlink:
            self.path.unlink(missing_ok=True)  # while still held: nobody takes a lock on a file going away
        self._remember(False)
        os.close(self.fd)
        self.fd = -1

    def _remember(self, held: bool) -> None:
        key = (os.getpid(), os.path.realpath(self.path))
        with self._mine_lock:
            (self._mine.add if held else self._mine.discard)(key)


def held(path: Path) -> bool:
    """True while some process (this one too) holds the lock of ``path``; False if the file
    is gone."""
    if FileLock.mine(path):
        return True
    lock = FileLock.take(path)
    if lock is None:
        return path.exists()
    lock.release()
    return False


@dataclass(frozen=True)
class Owner:
    """Who is doing something, as recorded for people to read (never trusted for liveness)."""

    host: str
    pid: int
    since: str

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), _PROCESS_START)

    def record(self) -> dict[str, object]:
        return {"host": self.host, "pid": self.pid, "since": self.since}

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host} (since {self.since})"


_PROCESS_START = datetime.now(timezone.utc).isoformat(timespec="seconds")
_folders: dict[tuple[int, Path], tuple[Path, FileLock]] = {}
_folders_lock = threading.Lock()


def process_folder(work: Path) -> Path:
    """This process's own folder under ``work``, created and locked on first use.

    Keyed by process id as well, so that a forked child never works in its parent's folder.
    The folder is built under a hidden name and renamed once locked: a folder with a
    visible name is always locked while its owner lives."""
    key = (os.getpid(), work.resolve())
    with _folders_lock:
        if key in _folders:
            return _folders[key][0]
        work.mkdir(parents=True, exist_ok=True)
        owner = Owner.me()
        building = work / f".new-{uuid.uuid4().hex[:12]}"
        building.mkdir()
        lock = FileLock.take(building / LOCK, create=True)
        assert lock is not None, building  # a folder of a fresh random name is nobody else's
        stamp = owner.since.replace(":", "").replace("-", "")[:15]
        folder = work / f"{owner.host}-{owner.pid}-{stamp}-{building.name[-4:]}"
        building.rename(folder)
        lock.moved(folder / LOCK)
        _folders[key] = (folder, lock)
        return folder


def dead_folders(work: Path) -> list[Path]:
    """The folders under ``work`` whose process has ended (a visible name whose lock is free)."""
    if not work.is_dir():
        return []
    return [folder for folder in sorted(work.iterdir())
            if folder.is_dir() and not folder.name.startswith(".") and not held(folder / LOCK)]


def remove_dead_folders(work: Path) -> list[Path]:
    """Remove what dead processes left under ``work``; returns the folders removed. A folder
    is taken (locked) before it is removed, so two runs cleaning up never both remove it."""
    removed = []
    for folder in dead_folders(work) + _abandoned_builds(work):
        lock = FileLock.take(folder / LOCK)
        if lock is None and (folder / LOCK).exists():
            continue  # its owner lives after all (or another run is removing it)
        shutil.rmtree(folder, ignore_errors=True)
        if lock is not None:
            lock.release()
        removed.append(folder)
    return removed


def _abandoned_builds(work: Path) -> list[Path]:
    """Folders a process died building (between two system calls): unlocked and an hour old."""
    if not work.is_dir():
        return []
    old = time.time() - 3600
    return [folder for folder in work.glob(".new-*")
            if folder.is_dir() and folder.stat().st_mtime < old and not held(folder / LOCK)]


@atexit.register
def _leave() -> None:
    """A process that ends normally removes its own folders; a killed one leaves them to
    ``remove_dead_folders``."""
    for (pid, _), (folder, lock) in list(_folders.items()):
        if pid == os.getpid():
            shutil.rmtree(folder, ignore_errors=True)
            lock.release()
