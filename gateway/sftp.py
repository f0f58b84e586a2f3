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
    """A refused operation; ``message`` (Chinese and English) is sent with its status."""

    def __init__(self, code=errno.EACCES, message: str | None = None, reason: str | None = None):
        super().__init__(code, os.strerror(code))
        self.message, self.reason = message, reason


def busy(name: str) -> Denied:
    return Denied(errno.EBUSY, f"inbox/{name} 正在被另一个会话写入，请等它结束后再试 / inbox/{name} is busy: "
                               "another session is writing it; try again when that session has finished",
                  reason="busy")


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
            code = paramiko.SFTPServer.convert_errno(e.errno or errno.EIO)
            message = getattr(e, "message", None)
            return Refusal(code, f"ncms-gateway: {message}", reason=getattr(e, "reason", None)) if message else code
    return wrapper


class GatewayHandle(paramiko.SFTPHandle):
    """An open file, kept open as one fd: reads and writes are pread/pwrite at the given offset."""

    def __init__(self, sftp: "JailedSFTPServer", fd: int, flags: int, name: str | None, partial: bool,
                 claim: object | None = None):
        super().__init__(flags)
        self.sftp, self.fd, self.name, self.partial = sftp, fd, name, partial
        self.claim = claim  # this handle's hold on its name in the gateway's Writers
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
            try:
                os.close(self.fd)
            finally:  # whatever happens, the name is not left busy
                if self.claim is not None:
                    self.sftp.writers.release(self.sftp.account, [self.name], self.claim)
        if self.writable and self.partial:
            self.sftp.finished_upload(self)


class JailedSFTPServer(paramiko.SFTPServerInterface):
    """One county's SFTP session. ``server`` is the connection's ``GatewayConnection``."""

    busy_wait = 2.0  # seconds an open for write waits for another session to let go of the name

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
        self.writers = server.gateway.writers
        self.is_temp_name = config.is_temp_name

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
            claim = object()
            if not self.writers.claim(self.account, [name], claim, wait=self.busy_wait):
                raise busy(name)
            try:
                self.usage.rescan()
                fd = os.open(self.partial_dir / name, flags | nofollow, 0o640)
            except BaseException:
                self.writers.release(self.account, [name], claim)
                raise
            return GatewayHandle(self, fd, flags, name, partial=True, claim=claim)
        real, _ = self._real_file(parts)
        fd = os.open(real, os.O_RDONLY | nofollow)
        return GatewayHandle(self, fd, os.O_RDONLY, None, partial=False)

    @_guard
    def remove(self, path):
        parts = split_path(path)
        if len(parts) != 2 or parts[0] != "inbox":
            raise Denied()
        name = check_name(parts[1])
        p = self.partial_dir / name
        if not os.path.lexists(p):
            if not os.path.lexists(self.inbox / name):
                raise Denied(errno.ENOENT)
            raise Denied(message=f"inbox/{name} 已交付，不能删除 / inbox/{name} was delivered and cannot be deleted",
                         reason="delivered")
        with self.writers.holding(self.account, [name]) as free:
            if not free:
                raise busy(name)
            os.unlink(p)
        return SFTP_OK

    @_guard
    def rename(self, oldpath, newpath):
        """SSH_FXP_RENAME: an upload in progress gets a new name, never over another one.

        This is how WinSCP and many scripts finish an upload (``put X.zip.filepart``,
        then ``rename`` to ``X.zip``): the file under its temporary name is never
        delivered, and the rename delivers it if it is complete.
        """
        return self._rename(oldpath, newpath, replace=False)

    @_guard
    def posix_rename(self, oldpath, newpath):
        """posix-rename@openssh.com: like ``rename``, but replaces an upload in progress."""
        return self._rename(oldpath, newpath, replace=True)

    def _rename(self, oldpath, newpath, replace: bool):
        old, new = split_path(oldpath), split_path(newpath)
        if len(old) != 2 or len(new) != 2 or old[0] != "inbox" or new[0] != "inbox":
            raise Denied(message="只能在 inbox 中改名 / only files in inbox can be renamed", reason="rename")
        old_name, new_name = check_name(old[1]), check_name(new[1])
        src, dst = self.partial_dir / old_name, self.partial_dir / new_name
        with self.writers.holding(self.account, {old_name, new_name}) as free:
            if not free:
                raise busy(old_name if self.writers.busy(self.account, old_name) else new_name)
            if not os.path.isfile(src) or os.path.islink(src):
                raise Denied(errno.ENOENT, f"inbox/{old_name} 不是正在上传的文件 / "
                                           f"inbox/{old_name} is not an upload in progress", reason="rename")
            if replace:
                os.replace(src, dst)
            else:
                self._rename_no_replace(src, dst, new_name)
        delivered = self._promote(new_name)
        event("gateway.rename", account=self.account, file=old_name, to=new_name,
              result="complete" if delivered else "partial", delivered_as=delivered)
        return SFTP_OK

    def _rename_no_replace(self, src: Path, dst: Path, new_name: str) -> None:
        try:
            os.link(src, dst)
        except FileExistsError:
            raise Denied(errno.EEXIST, f"inbox/{new_name} 已有一个未完成的上传，请先删除 / inbox/{new_name} "
                                       "is already an upload in progress: remove it first", reason="rename") from None
        os.unlink(src)

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

    def _promote(self, name: str, digest: str | None = None) -> str | None:
        """Deliver ``name`` (or the file a sidecar ``name`` belongs to) if it is complete and
        nobody is writing it or its sidecar; returns the name it was delivered under."""
        base = complete.base_of_sidecar(name)
        data = base if base is not None else name
        if self.is_temp_name(data):
            return None
        with self.writers.holding(self.account, [data, data + complete.SIDECAR_SUFFIX]) as free:
            if not free:
                return None  # the last writer to close delivers it
            if base is not None and not os.path.isfile(self.partial_dir / base):
                return base if complete.promote_late_sidecar(self.partial_dir, self.inbox, base) else None
            return complete.promote(self.partial_dir, self.inbox, data, digest=digest if base is None else None)

    def finished_upload(self, handle: GatewayHandle) -> None:
        try:
            delivered = self._promote(handle.name, handle.digest())
        except OSError as exc:
            event("gateway.deliver", account=self.account, file=handle.name, result="error", error=str(exc))
            delivered = None
        if handle.refused:
            result = "refused"
        else:
            result = "complete" if delivered else "partial"
        extra = {"delivered_as": delivered} if delivered and delivered != handle.name else {}
        event("gateway.transfer", account=self.account, file=handle.name, bytes=handle.written,
              seconds=round(time.monotonic() - handle.started, 3),
              resumed_from=handle.first_offset, result=result, **extra)
