"""The jailed SFTP view of one county account.

Like paramiko's test SFTP server, each SFTP operation is one filesystem call on a path
resolved inside the jail, and an ``OSError`` becomes an SFTP status code, never an
exception. The jail's root holds exactly ``inbox`` (upload; writes go to ``.partial``)
and ``outbox`` (read-only).
"""
from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import stat
import threading
import time
from pathlib import Path

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_OK, SFTP_PERMISSION_DENIED

from gateway import complete
from gateway.log import Refusal, event

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
FOLDERS = ("inbox", "outbox")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class Denied(OSError):
    def __init__(self, code=errno.EACCES):
        super().__init__(code, os.strerror(code))


def split_path(path: str) -> tuple[str, ...]:
    """Jail-relative parts of ``path`` (relative paths start at ``/``); ``..`` above root is refused."""
    parts: list[str] = []
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise Denied()
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or name.startswith("."):
        raise Denied()
    return name


class Usage:
    """Bytes an account holds in inbox + .partial, kept current as writes grow files."""

    def __init__(self, county_dir: Path):
        self.county_dir = county_dir
        self.total = 0
        self.lock = threading.Lock()

    def rescan(self) -> None:
        total = 0
        for sub in ("inbox", ".partial"):
            try:
                with os.scandir(self.county_dir / sub) as it:
                    for e in it:
                        if e.is_file(follow_symlinks=False):
                            total += e.stat(follow_symlinks=False).st_size
            except OSError:
                pass
        with self.lock:
            self.total = total

    def grow(self, delta: int, quota: int | None) -> bool:
        with self.lock:
            if quota is not None and self.total + delta > quota:
                return False
            self.total += delta
            return True


def _guard(fn):
    """One SFTP operation: note the activity, and turn an OSError into its status code."""
    @functools.wraps(fn)
    def wrapper(self, *args):
        self.touch()
        try:
            return fn(self, *args)
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno or errno.EIO)
    return wrapper


class GatewayHandle(paramiko.SFTPHandle):
    """An open file, kept open as one fd: reads and writes are pread/pwrite at the given offset."""

    def __init__(self, sftp: "JailedSFTPServer", fd: int, flags: int, name: str | None, partial: bool):
        super().__init__(flags)
        self.sftp, self.fd, self.name, self.partial = sftp, fd, name, partial
        self.writable = bool(flags & (os.O_WRONLY | os.O_RDWR))
        self.append = bool(flags & os.O_APPEND)
        self.size = os.fstat(fd).st_size
        self.first_offset: int | None = None
        self.written = 0
        self.refused = False
        self.started = time.monotonic()
        self.closed = False
        # a fresh upload written in order is hashed as it arrives, so closing it need not
        # read a large file back; anything else is hashed from disk at close
        self.hasher = hashlib.sha256() if self.writable and self.size == 0 else None
        self.hashed = 0

    def stat(self):
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.fd))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def chattr(self, attr):
        return SFTP_OK  # permissions and times are the gateway's, not the client's

    def read(self, offset, length):
        self.sftp.touch()
        try:
            return os.pread(self.fd, length, offset)
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def write(self, offset, data):
        self.sftp.touch()
        if not self.writable:
            return SFTP_PERMISSION_DENIED
        if self.append:
            offset = self.size
        end = offset + len(data)
        more = max(0, end - self.size)
        if end > self.sftp.max_file_bytes:
            limit, why = "max_file_bytes", (
                f"inbox/{self.name} 将达到 {end:,} 字节，超过 max_file_bytes = {self.sftp.max_file_bytes:,}；"
                f"请分成较小的数据包发送，或请省里提高上限 / inbox/{self.name} would grow to {end:,} bytes, over "
                f"max_file_bytes = {self.sftp.max_file_bytes:,}; send smaller packages or ask the province to "
                "raise the limit")
        elif not self.sftp.usage.grow(more, self.sftp.quota):
            held, quota = self.sftp.usage.total, self.sftp.quota
            limit, why = "quota_bytes", (
                f"县 {self.sftp.account} 的 inbox 和未完成的上传已占 {held:,} 字节，再写 {more:,} 字节将超过 "
                f"quota_bytes = {quota:,}；请删除不再需要的未完成上传（sftp> rm inbox/文件名），或等省里取走已送达的"
                f"数据包 / county {self.sftp.account} holds {held:,} bytes in inbox and unfinished uploads; "
                f"{more:,} more would pass quota_bytes = {quota:,}; remove unfinished uploads "
                "(sftp> rm inbox/NAME) or wait until the province takes the delivered ones")
        else:
            limit = None
        if limit:  # the first refusal of a file says why; writes already on their way just fail
            first, self.refused = not self.refused, True
            return Refusal(SFTP_FAILURE, f"ncms-gateway: {why}", limit=limit, file=self.name) if first else SFTP_FAILURE
        try:
            if self.append:
                os.write(self.fd, data)
            else:
                os.pwrite(self.fd, data, offset)
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        if self.first_offset is None:
            self.first_offset = offset
        if self.hasher is not None:
            if offset == self.hashed:
                self.hasher.update(data)
                self.hashed += len(data)
            else:
                self.hasher = None
        self.written += len(data)
        self.size = max(self.size, end)
        return SFTP_OK

    def digest(self) -> str | None:
        """The SHA-256 of the whole file, when it was hashed in order as it was written."""
        if self.hasher is not None and self.hashed == self.size:
            return self.hasher.hexdigest()
        return None

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            if self.writable:
                os.fsync(self.fd)
        except OSError:
            pass
        finally:
            os.close(self.fd)
        if self.writable and self.partial:
            self.sftp.finished_upload(self)


class JailedSFTPServer(paramiko.SFTPServerInterface):
    """One county's SFTP session. ``server`` is the connection's ``GatewayConnection``."""

    def __init__(self, server, *args, **kwargs):
        super().__init__(server, *args, **kwargs)
        self.conn = server
        config = server.config
        account = config.accounts.get(server.account)
        self.account = server.account
        self.county_dir = config.county_dir(server.account)
        self.inbox = self.county_dir / "inbox"
        self.outbox = self.county_dir / "outbox"
        self.partial_dir = self.county_dir / ".partial"
        self.max_file_bytes = account.max_file_bytes if account else 0
        self.quota = account.quota_bytes if account else 0
        self.usage = server.usage

    # -- session ---------------------------------------------------------
    def session_ended(self):
        self.conn.sftp_ended()

    def touch(self):
        self.conn.touch()

    # -- path mapping ----------------------------------------------------
    def _real_file(self, parts):
        """Real path of an existing file named by jail ``parts`` (partial wins over inbox)."""
        if len(parts) != 2 or parts[0] not in FOLDERS:
            raise Denied(errno.ENOENT)
        name = check_name(parts[1])
        dirs = (self.partial_dir, self.inbox) if parts[0] == "inbox" else (self.outbox,)
        for d in dirs:
            p = d / name
            st = os.lstat(p) if os.path.lexists(p) else None
            if st is not None:
                if not stat.S_ISREG(st.st_mode):
                    raise Denied()
                return p, st
        raise Denied(errno.ENOENT)

    def _dir_stat(self, parts):
        if parts == ():
            st = os.stat(self.county_dir)
        elif len(parts) == 1 and parts[0] in FOLDERS:
            st = os.stat(self.county_dir / parts[0])
        else:
            return None
        attr = paramiko.SFTPAttributes.from_stat(st)
        attr.st_mode = stat.S_IFDIR | (0o755 if parts == ("inbox",) else 0o555)
        return attr

    # -- operations ------------------------------------------------------
    def canonicalize(self, path):
        """paramiko cannot answer REALPATH with a status code: raising makes it reply SFTP_FAILURE."""
        self.touch()
        return "/" + "/".join(split_path(path))

    @_guard
    def stat(self, path):
        parts = split_path(path)
        attr = self._dir_stat(parts)
        if attr is not None:
            return attr
        real, st = self._real_file(parts)
        return paramiko.SFTPAttributes.from_stat(st, parts[-1])

    lstat = stat

    @_guard
    def list_folder(self, path):
        parts = split_path(path)
        if parts == ():
            out = []
            for name in FOLDERS:
                attr = self._dir_stat((name,))
                attr.filename = name
                out.append(attr)
            return out
        if len(parts) != 1 or parts[0] not in FOLDERS:
            raise Denied(errno.ENOENT)
        dirs = (self.inbox, self.partial_dir) if parts[0] == "inbox" else (self.outbox,)
        seen = {}
        for d in dirs:  # a partial file hides a completed one of the same name
            with os.scandir(d) as it:
                for e in it:
                    if e.name.startswith(".") or not NAME_RE.fullmatch(e.name) or not e.is_file(follow_symlinks=False):
                        continue
                    seen[e.name] = paramiko.SFTPAttributes.from_stat(e.stat(follow_symlinks=False), e.name)
        return [seen[n] for n in sorted(seen)]

    @_guard
    def open(self, path, flags, attr):
        parts = split_path(path)
        if len(parts) != 2 or parts[0] not in FOLDERS:
            raise Denied()
        name = check_name(parts[1])
        nofollow = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        if flags & WRITE_FLAGS:
            if parts[0] != "inbox":
                raise Denied()
            self.usage.rescan()
            fd = os.open(self.partial_dir / name, flags | nofollow, 0o640)
            return GatewayHandle(self, fd, flags, name, partial=True)
        real, _ = self._real_file(parts)
        fd = os.open(real, os.O_RDONLY | nofollow)
        return GatewayHandle(self, fd, os.O_RDONLY, None, partial=False)

    @_guard
    def remove(self, path):
        parts = split_path(path)
        if len(parts) != 2 or parts[0] != "inbox":
            raise Denied()
        p = self.partial_dir / check_name(parts[1])
        if not os.path.lexists(p):
            raise Denied()  # completed packages belong to the core now
        os.unlink(p)
        return SFTP_OK

    @_guard
    def rename(self, oldpath, newpath):
        """Within inbox, a partial file may be renamed (WinSCP uploads to ``*.filepart``)."""
        old, new = split_path(oldpath), split_path(newpath)
        if len(old) != 2 or len(new) != 2 or old[0] != "inbox" or new[0] != "inbox":
            raise Denied()
        src = self.partial_dir / check_name(old[1])
        dst_name = check_name(new[1])
        if not os.path.isfile(src) or os.path.islink(src):
            raise Denied(errno.ENOENT)
        os.replace(src, self.partial_dir / dst_name)
        self._promote(dst_name)
        return SFTP_OK

    posix_rename = rename

    @_guard
    def chattr(self, path, attr):
        parts = split_path(path)
        if self._dir_stat(parts) is None:
            self._real_file(parts)
        return SFTP_OK

    def mkdir(self, path, attr):
        return SFTP_PERMISSION_DENIED

    def rmdir(self, path):
        return SFTP_PERMISSION_DENIED

    def symlink(self, target_path, path):
        return SFTP_PERMISSION_DENIED

    def readlink(self, path):
        return SFTP_PERMISSION_DENIED

    def _promote(self, name: str, digest: str | None = None) -> bool:
        base = complete.base_of_sidecar(name)
        if base is not None:
            if os.path.isfile(self.partial_dir / base):
                return complete.promote(self.partial_dir, self.inbox, base)
            return complete.promote_late_sidecar(self.partial_dir, self.inbox, base)
        return complete.promote(self.partial_dir, self.inbox, name, digest=digest)

    def finished_upload(self, handle: GatewayHandle) -> None:
        try:
            done = self._promote(handle.name, handle.digest())
        except OSError:
            done = False
        if handle.refused:
            result = "refused"
        else:
            result = "complete" if done else "partial"
        event("gateway.transfer", account=self.account, file=handle.name, bytes=handle.written,
              seconds=round(time.monotonic() - handle.started, 3),
              resumed_from=handle.first_offset, result=result)
