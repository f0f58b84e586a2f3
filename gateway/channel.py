"""What a county's stock client hears on its SSH channel, besides SFTP itself.

OpenSSH's ``ssh`` prints what a server writes on a session's stderr and exits with the
exit status the server sends; ``sftp`` and ``scp`` run on top of it. So this is where the
gateway tells a county why a request was refused (which limit, with the figures) and
ends a session the way ``sftp-server`` does: exit status 0, then close.
"""
from __future__ import annotations

import struct
import threading
import time

import paramiko
from paramiko.common import cMSG_DISCONNECT

from gateway.log import Refusal, event

DISCONNECT_TOO_MANY_CONNECTIONS = 12  # RFC 4253, 11.1
REFUSAL_PAUSE = 0.2  # seconds: lets ssh print stderr before a refusal makes it quit
SFTP_ONLY = ("ncms-gateway: 本网关只提供 SFTP：请用 sftp、scp（OpenSSH 9 及以上，不加 -O）、WinSCP 或 "
             "ncms-gateway push；不提供 shell、命令和端口转发 / this gateway serves SFTP only: use sftp, scp "
             "(OpenSSH 9 or later, without -O), WinSCP or ncms-gateway push; shells, commands and forwarding "
             "are not available")
WHAT_ZH = {"connections": "个连接", "SFTP sessions": "个 SFTP 会话"}
REPLIES_AT_MOST = 1 << 16  # bytes of SFTP replies held back before they are sent anyway


def too_many(account: str, count: int, what: str, limit: int) -> str:
    return (f"ncms-gateway: 县 {account} 已有 {count} {WHAT_ZH[what]}（max_sessions_per_account = {limit}），"
            f"请关闭一个后再试 / county {account} already has {count} {what} open "
            f"(max_sessions_per_account = {limit}); close one and try again")


def english(message: str) -> str:
    """The English half of ``"ncms-gateway: 中文 / English"``: OpenSSH prints a disconnect
    message through its log, which escapes every non-ASCII byte."""
    prefix, _, text = message.partition(": ")
    _, sep, en = text.partition(" / ")
    return f"{prefix}: {en}" if sep else message


def tell(channel: paramiko.Channel, message: str) -> None:
    """Write ``message`` on the channel's stderr, which the county's ssh/sftp/scp prints."""
    try:
        channel.send_stderr((message + "\n").encode("utf-8"))
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the county is gone; the log still has it


def send_exit_status(channel: paramiko.Channel, status: int) -> None:
    """Without an exit status OpenSSH's ssh exits non-zero, and scp reports a failed transfer."""
    if channel.closed:
        return
    try:
        channel.send_exit_status(status)
    except (OSError, EOFError, paramiko.SSHException):
        pass


def end_at_once(channel: paramiko.Channel, message: str) -> bool:
    """Accept a session request, say why on its stderr, and end it with exit status 1.

    Refusing the request would be simpler, but ssh quits on a refusal before it has
    printed what came on stderr; a session that ends is drained first. The channel is
    closed a moment later, once paramiko has answered the request (it answers after the
    ``check_channel_*`` method returns, and a close must not overtake that answer).
    """
    tell(channel, message)
    send_exit_status(channel, 1)
    channel.shutdown_write()
    closer = threading.Timer(1.0, channel.close)
    closer.daemon = True
    closer.start()
    return True


def refuse(channel: paramiko.Channel, message: str) -> bool:
    """Refuse a request, saying why on the channel first; the pause (in the connection's own
    thread) lets ssh print the message before the refusal makes it quit."""
    tell(channel, message)
    time.sleep(REFUSAL_PAUSE)
    return False


def disconnect(transport: paramiko.Transport, reason: int, message: str) -> None:
    """Send SSH_MSG_DISCONNECT with ``message``: OpenSSH prints it ("Received disconnect from …"),
    which is the only way to tell a connection that opened no session (``ssh -N``) why it ends."""
    m = paramiko.Message()
    m.add_byte(cMSG_DISCONNECT)
    m.add_int(reason)
    m.add_string(message)
    m.add_string("")
    try:
        transport._send_user_message(m)  # paramiko has no public call for a disconnect with a reason
    except (OSError, EOFError, paramiko.SSHException):
        pass


class GatewaySFTPServer(paramiko.SFTPServer):
    """paramiko's SFTP subsystem, plus what a stock client needs to hear on the channel:
    an exit status when the session ends, and why a request was refused (a :class:`Refusal`).

    Replies wait while more requests are already in: a client keeps many writes in flight
    (OpenSSH's ``sftp`` 64 of 32 KiB), and a reply apiece had cost an SSH packet, its
    encryption and a ``send`` each, half the SFTP thread's time in an upload. They go out
    together, in order, as one channel write, before the thread waits for the next request
    (or when 64 KiB of them wait, or the session ends)."""

    def __init__(self, channel, name, server, *args, **kwargs):
        super().__init__(channel, name, server, *args, **kwargs)
        self.channel = channel
        self.conn = server
        self.replies: list[bytes] = []
        self.held = 0

    def _send_packet(self, t, packet):
        packet = packet.asbytes()
        self.replies.append(struct.pack(">IB", len(packet) + 1, t) + packet)
        self.held += len(self.replies[-1])
        if self.held >= REPLIES_AT_MOST:
            self.send_replies()

    def _read_packet(self):
        if self.replies and not self.sock.recv_ready():
            self.send_replies()  # nothing more to answer now: the client may be waiting
        return super()._read_packet()

    def send_replies(self) -> None:
        out, self.replies, self.held = b"".join(self.replies), [], 0
        self._write_all(out)

    def _send_status(self, request_number, code, desc=None):
        if isinstance(code, Refusal):
            desc = code.message
            tell(self.channel, code.message)
            event("gateway.refused", account=self.conn.account, peer=self.conn.peer, **code.fields,
                  message=code.message)
        super()._send_status(request_number, int(code), desc)

    def finish_subsystem(self):
        try:
            self.send_replies()
        except (EOFError, OSError):  # the client is gone: nobody is left to tell
            pass
        send_exit_status(self.channel, 0)
        super().finish_subsystem()
