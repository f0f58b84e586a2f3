"""The county-side client: resumable upload to the gateway's ``inbox/`` (断点续传) and
download of receipts from ``outbox/``.

The WAN between a county and the province is slow and drops connections, so an upload
never starts over: the server keeps a partial file and reports its size through
``stat``, and every attempt continues from that size. Only SFTP is used (no shell), so
the same client works against the gateway and against a plain OpenSSH server.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko

log = logging.getLogger(__name__)

WINDOW_SIZE = 2**27
BLOCK_SIZE = 4 * 2**20
MAX_BACKOFF = 60.0
BUSY = "is busy"  # the gateway's refusal of a name another session is writing (gateway.sftp.busy)

Progress = Callable[[int, int], None]


class TransferError(Exception):
    """An upload or download that cannot succeed by retrying (or ran out of retries)."""


@dataclass(frozen=True)
class PushResult:
    bytes_sent: int
    resumed_from: int  # what the server already held when the push began
    attempts: int
    seconds: float
    last_offset: int = 0  # where the attempt that finished began (after a drop: the resume point)


def _is_network_error(exc: BaseException, transport: paramiko.Transport | None) -> bool:
    """Whether ``exc`` means the link broke (retry) rather than the server said no (fail)."""
    if isinstance(exc, (TransferError, paramiko.AuthenticationException, paramiko.BadHostKeyException)):
        return False
    if isinstance(exc, (EOFError, socket.timeout, paramiko.SSHException, ConnectionError)):
        return True
    if isinstance(exc, OSError):  # an SFTP status error is an OSError on a live transport
        # "busy": another session still holds the name, usually this county's own connection
        # that dropped without the gateway noticing yet; it lets go at its idle timeout
        return transport is None or not transport.is_active() or BUSY in str(exc)
    return False


def load_key(key_path: str | os.PathLike) -> paramiko.PKey:
    """The county's private key (OpenSSH or PEM format, unencrypted)."""
    try:
        return paramiko.PKey.from_path(str(key_path))
    except (OSError, paramiko.SSHException) as exc:
        raise TransferError(f"cannot read private key {key_path}: {exc}") from exc


def open_sftp(host: str, port: int, user: str, key: paramiko.PKey, *,
              known_hosts: str | os.PathLike | None = None, timeout: float = 30) -> paramiko.SFTPClient:
    """An SFTP session authenticated by public key; close its transport when done.

    With ``known_hosts`` (OpenSSH format) a host key that is missing or different is
    refused. Without it any host key is accepted and its fingerprint logged: trust on
    first use, for a county that has not been given the gateway's key yet.
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    transport = paramiko.Transport(sock, default_window_size=WINDOW_SIZE)
    try:
        transport.banner_timeout = transport.auth_timeout = timeout
        transport.start_client(timeout=timeout)
        _check_host_key(transport.get_remote_server_key(), host, port, known_hosts)
        try:
            transport.auth_publickey(user, key)
        except paramiko.AuthenticationException as exc:
            if transport.is_active():
                raise  # the gateway said no to this key
            # the connection ended during the login (a restarting gateway): a broken link
            raise ConnectionResetError(f"the connection closed during login: {exc}") from exc
        sftp = paramiko.SFTPClient.from_transport(transport, window_size=WINDOW_SIZE)
        sftp.get_channel().settimeout(timeout)
        return sftp
    except BaseException:
        transport.close()
        raise


@contextmanager
def connect(host: str, port: int, user: str, key: paramiko.PKey, **options: object) -> Iterator[paramiko.SFTPClient]:
    """``open_sftp`` as a context manager that closes the connection."""
    sftp = open_sftp(host, port, user, key, **options)
    try:
        yield sftp
    finally:
        sftp.get_channel().get_transport().close()


def _check_host_key(server_key: paramiko.PKey, host: str, port: int,
                    known_hosts: str | os.PathLike | None) -> None:
    fingerprint = server_key.fingerprint
    if known_hosts is None:
        log.info("accepting host key of %s:%s without checking: %s", host, port, fingerprint)
        return
    name = host if port == 22 else f"[{host}]:{port}"
    keys = paramiko.HostKeys(str(known_hosts)).lookup(name) or {}
    expected = keys.get(server_key.get_name())
    if expected is None:
        raise TransferError(f"host {name} has no {server_key.get_name()} key in {known_hosts}; "
                            f"add its key ({fingerprint}) if it is the gateway")
    if expected != server_key:
        raise TransferError(f"host key of {name} is {fingerprint}, not the one in {known_hosts}: "
                            "refusing to connect (a different server, or the gateway's key changed)")


def _retrying(what: str, retries: int, backoff: float, attempt: Callable[[], None]) -> int:
    """Run ``attempt`` until it returns, retrying network errors; return attempts made.

    ``attempt`` raises ``_Retry`` saying whether the transfer had moved forward; only
    consecutive failures without progress count against ``retries``, so a link that
    drops every few minutes still finishes a large package while a dead server fails
    after ``retries`` attempts.
    """
    attempts = failures = 0
    while True:
        attempts += 1
        try:
            attempt()
            return attempts
        except _Retry as retry:
            failures = 1 if retry.progressed else failures + 1
            if failures >= max(1, retries):
                raise TransferError(f"{what}: gave up after {attempts} attempt(s): {retry.cause}") from retry.cause
            delay = min(MAX_BACKOFF, backoff * 2 ** (failures - 1))
            log.warning("%s: %s; retrying in %.1f s", what, retry.cause, delay)
            time.sleep(delay)


class _Retry(Exception):
    def __init__(self, cause: BaseException, progressed: bool) -> None:
        super().__init__(str(cause))
        self.cause, self.progressed = cause, progressed


def _remote_size(sftp: paramiko.SFTPClient, path: str) -> int | None:
    try:
        return sftp.stat(path).st_size
    except FileNotFoundError:
        return None


def _upload_from(sftp: paramiko.SFTPClient, local: Path, remote: str, offset: int,
                 exists: bool, sent: Callable[[int], None], cut_at: int | None = None) -> None:
    """Write ``local[offset:]`` at ``offset`` of ``remote`` (never truncating a partial) and close.

    ``cut_at`` rehearses a dropped link: the connection fails once that many bytes are on
    the server, exactly as a WAN cut would leave it.
    """
    with open(local, "rb") as src, sftp.open(remote, "r+" if exists else "w") as dst:
        dst.set_pipelined(True)
        dst.seek(offset)
        src.seek(offset)
        position = offset
        while block := src.read(BLOCK_SIZE if cut_at is None else max(0, min(BLOCK_SIZE, cut_at - position))):
            dst.write(block)
            position += len(block)
            sent(len(block))
        if cut_at is not None and position < local.stat().st_size:
            dst.flush()
            raise EOFError(f"rehearsal: link cut after {position} bytes")
    # leaving the ``with`` closes the file: the server decides here whether it is complete


def _sidecar_text(local: Path) -> bytes:
    with open(local, "rb") as src:
        return f"{hashlib.file_digest(src, 'sha256').hexdigest()}  {local.name}\n".encode()


def _session(host: str, port: int, user: str, key: paramiko.PKey, known_hosts, timeout: float,
             body: Callable[[paramiko.SFTPClient], None], progressed: Callable[[], bool]) -> None:
    """Run ``body`` on a fresh connection; a network error becomes ``_Retry``."""
    try:
        sftp = open_sftp(host, port, user, key, known_hosts=known_hosts, timeout=timeout)
    except Exception as exc:
        if _is_network_error(exc, None):
            raise _Retry(exc, progressed()) from exc
        raise
    transport = sftp.get_channel().get_transport()
    try:
        body(sftp)
    except Exception as exc:
        if _is_network_error(exc, transport):
            raise _Retry(exc, progressed()) from exc
        raise
    finally:
        transport.close()


def push(path: str | os.PathLike, host: str, port: int, user: str, key_path: str | os.PathLike, *,
         known_hosts: str | os.PathLike | None = None, retries: int = 8, backoff: float = 1.0,
         timeout: float = 30, sidecar: bool = False, progress: Progress | None = None,
         remote_dir: str = "inbox", interrupt_after: int | None = None) -> PushResult:
    """Upload ``path`` to ``<remote_dir>/<name>``, resuming from what the server already holds.

    Each attempt asks the server for the size of its partial copy and sends only the rest;
    a remote copy larger than the local file is an error (never truncated). Network
    errors reconnect after ``backoff * 2**n`` seconds (capped at a minute); ``retries``
    bounds the consecutive attempts that make no progress. Host keys are checked only
    when ``known_hosts`` is given (see ``open_sftp``). With ``sidecar`` a
    ``<name>.sha256`` is uploaded first, so the server can verify a file that is not a
    package ZIP. ``progress(done, total)`` is called after every block.
    ``interrupt_after`` rehearses a dropped link: the first attempt stops after that many
    bytes and the push resumes as it would after a real cut.
    """
    local = Path(path)
    size = local.stat().st_size
    key = load_key(key_path)
    remote = f"{remote_dir.rstrip('/')}/{local.name}" if remote_dir else local.name
    pending_sidecar = _sidecar_text(local) if sidecar else None
    state = {"sent": 0, "resumed": None, "offset": -1, "cut_at": interrupt_after}
    started = time.monotonic()

    def body(sftp: paramiko.SFTPClient) -> None:
        nonlocal pending_sidecar
        if pending_sidecar is not None:
            with sftp.open(f"{remote}.sha256", "w") as out:
                out.write(pending_sidecar)
            pending_sidecar = None
        offset = _remote_size(sftp, remote)
        exists = offset is not None
        offset = offset or 0
        if offset > size:
            raise TransferError(f"{remote} on the server holds {offset} bytes, more than the "
                                f"{size} of {local}: not the same file; rename one of them")
        state["offset"] = offset
        if state["resumed"] is None:
            state["resumed"] = offset
        done = offset

        def sent(n: int) -> None:
            nonlocal done
            done += n
            state["sent"] += n
            if progress:
                progress(done, size)

        if progress:
            progress(done, size)
        cut_at, state["cut_at"] = state["cut_at"], None  # the rehearsal cuts the first attempt only
        _upload(sftp, local, remote, offset, size, exists, sent, cut_at)

    def attempt() -> None:
        previous = state["offset"]
        _session(host, port, user, key, known_hosts, timeout, body, lambda: state["offset"] > previous >= 0)

    attempts = _retrying(f"push {local.name}", retries, backoff, attempt)
    return PushResult(state["sent"], state["resumed"] or 0, attempts, time.monotonic() - started,
                      max(state["offset"], 0))


def _upload(sftp: paramiko.SFTPClient, local: Path, remote: str, offset: int, size: int,
            exists: bool, sent: Callable[[int], None], cut_at: int | None = None) -> None:
    """Send the rest, close, and check the server kept (or already took) the whole file."""
    try:
        _upload_from(sftp, local, remote, offset, exists, sent, cut_at)
    except OSError as exc:
        transport = sftp.get_channel().get_transport()
        if not (exists and offset == size and transport.is_active()):
            raise
        log.warning("%s: already complete on the server, which refused to reopen it (%s)", remote, exc)
        return
    final = _remote_size(sftp, remote)
    if final not in (None, size):  # None: completed, and the core already took it
        raise TransferError(f"{remote} on the server has {final} bytes after upload, expected {size}")


def fetch(host: str, port: int, user: str, key_path: str | os.PathLike, dest_dir: str | os.PathLike, *,
          known_hosts: str | os.PathLike | None = None, retries: int = 8, backoff: float = 1.0,
          timeout: float = 30, remote_dir: str = "outbox") -> list[Path]:
    """Download each file of ``remote_dir`` that ``dest_dir`` lacks (or has at another size).

    A file appears in ``dest_dir`` only once complete (written as ``.<name>.part``, then
    renamed), so a rerun after a failure fetches exactly what is missing.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    key = load_key(key_path)
    fetched: list[Path] = []

    def body(sftp: paramiko.SFTPClient) -> None:
        for entry in sorted(sftp.listdir_attr(remote_dir), key=lambda e: e.filename):
            target = dest / entry.filename
            if (not stat.S_ISREG(entry.st_mode or 0) or entry.filename.startswith(".")
                    or "/" in entry.filename
                    or (target.exists() and target.stat().st_size == entry.st_size)):
                continue
            part = dest / f".{entry.filename}.part"
            try:
                sftp.get(f"{remote_dir.rstrip('/')}/{entry.filename}", str(part))
                os.replace(part, target)
            finally:
                part.unlink(missing_ok=True)
            fetched.append(target)

    def attempt() -> None:
        before = len(fetched)
        _session(host, port, user, key, known_hosts, timeout, body, lambda: len(fetched) > before)

    _retrying("fetch", retries, backoff, attempt)
    return fetched
