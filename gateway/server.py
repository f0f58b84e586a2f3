"""The SSH side of the gateway: accept connections, authenticate counties, serve SFTP only.

One thread per connection (plus paramiko's transport thread). Authentication re-reads the
accounts file when it changed, so keys are added and removed without a restart.

An SSH server cannot attach a sentence to a failed login, so a county over its connection
limit is let in with its valid key and then told why on the session's stderr (which
``ssh``, ``sftp`` and ``scp`` print), or in the disconnect message if it opens no session.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import threading
import time
from pathlib import Path

import paramiko
import paramiko.packet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.channel import (DISCONNECT_TOO_MANY_CONNECTIONS, SFTP_ONLY, GatewaySFTPServer, disconnect,
                             end_at_once, english, refuse, too_many)
from gateway.config import ConfigStore, GatewayConfig
from gateway.log import event
from gateway.pipe import use_fast_pipe
from gateway.sftp import JailedSFTPServer, Usage
from gateway.sweep import Sweeper
from gateway.writers import Writers

WINDOW_SIZE = 2**27
MAX_PACKET_SIZE = 2**18


def _one_shot_hmac(key: bytes, message: bytes, digest_class) -> bytes:  # type: ignore[no-untyped-def]
    """paramiko MACs every packet by building an ``hmac.HMAC`` object; the one-shot C
    ``hmac.digest`` gives the same bytes without that per-packet set-up, which the
    benchmark measured at a sixth of the gateway's CPU during an upload."""
    return hmac.digest(key, message, digest_class().name)


paramiko.packet.compute_hmac = _one_shot_hmac
ALLOWED_KEY_NAMES = {"ssh-ed25519", "ssh-rsa"}
MIN_RSA_BITS = 2048  # a shorter RSA key is refused at login, even when it is listed


def load_or_create_host_key(path: Path) -> paramiko.PKey:
    """Read the ed25519 host key, creating it (mode 0600) on first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    return paramiko.Ed25519Key(filename=str(path))


def public_key_line(key: paramiko.PKey, comment: str = "") -> str:
    """The key as one OpenSSH public key line (``ssh-ed25519 AAAA… comment``)."""
    return f"{key.get_name()} {key.get_base64()} {comment}".rstrip()


def sha256_fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:…`` as ``ssh`` and ``ssh-keygen -l`` print it: unpadded base64 of the key blob's SHA-256,
    so a county can compare what its client shows on first connection with what the province sent."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class GatewayConnection(paramiko.ServerInterface):
    """Policy for one SSH connection: public keys only, the sftp subsystem only."""

    def __init__(self, gateway: "GatewayServer", peer: str, transport: paramiko.Transport):
        self.gateway = gateway
        self.peer = peer
        self.transport = transport
        self.account: str | None = None
        self.last_activity = time.monotonic()
        self.sftp_sessions = 0
        self.admitted_at: float | None = None  # when the login was counted (or refused)
        self.counted = False  # holds one of the account's max_sessions_per_account places
        self.refusal: str | None = None  # why this logged-in connection may do nothing
        self._lock = threading.Lock()

    @property
    def config(self) -> GatewayConfig:
        return self.gateway.store.current

    @property
    def usage(self) -> Usage:
        return self.gateway.usage(self.account)

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    # -- authentication --------------------------------------------------
    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_none(self, username):
        return paramiko.AUTH_FAILED

    def check_auth_password(self, username, password):
        event("gateway.auth", account=username, peer=self.peer, method="password", result="refused")
        return paramiko.AUTH_FAILED

    def check_auth_interactive(self, username, submethods):
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username, key):
        """Only the key decides: paramiko asks this before it checks the signature, so the
        connection is counted against the county later, in :meth:`admit`."""
        self.touch()
        config = self.gateway.store.refresh()
        account = config.accounts.get(username)
        weak = key.get_name() == "ssh-rsa" and key.get_bits() < MIN_RSA_BITS
        if account is None or key.get_name() not in ALLOWED_KEY_NAMES or weak or not account.accepts(key):
            reason = f"RSA key of {key.get_bits()} bits; at least {MIN_RSA_BITS} needed" if weak else None
            event("gateway.auth", account=username, peer=self.peer, method="publickey",
                  key=key.get_fingerprint().hex(), result="refused", reason=reason)
            return paramiko.AUTH_FAILED
        return paramiko.AUTH_SUCCESSFUL

    def admit(self) -> str | None:
        """Count this logged-in connection against its county, once; the refusal if over the limit."""
        with self._lock:
            if self.admitted_at is None and self.transport.is_authenticated():
                self.account = self.transport.get_username()
                self.refusal = self.gateway.count_connection(self.account)
                self.counted = self.refusal is None
                self.admitted_at = time.monotonic()
                if self.refusal:
                    event("gateway.connection", account=self.account, peer=self.peer, result="refused",
                          reason="too many connections")
            return self.refusal

    # -- channels --------------------------------------------------------
    def check_channel_request(self, kind, chanid):
        self.admit()  # before the first channel, so a fast client cannot overtake the count
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_subsystem_request(self, channel, name):
        self.touch()
        if not self.transport.is_authenticated():
            return False
        if name != "sftp":
            return refuse(channel, SFTP_ONLY)
        refusal = self.admit() or self._open_sftp()
        if refusal:
            event("gateway.session", account=self.account, peer=self.peer, result="refused", reason=refusal)
            return end_at_once(channel, refusal)
        event("gateway.session", account=self.account, peer=self.peer, state="open")
        use_fast_pipe(channel)  # before the SFTP thread reads it (gateway/pipe.py says why)
        started = False
        try:
            started = super().check_channel_subsystem_request(channel, name)
        finally:
            if not started:  # also when the handler could not even be built
                self.sftp_ended()
        return started

    def _open_sftp(self) -> str | None:
        """One more SFTP session on this connection (several share one with ``ssh -o ControlMaster``)."""
        limit = self.config.max_sessions_per_account
        with self._lock:
            if self.sftp_sessions >= limit:
                return too_many(self.account, self.sftp_sessions, "SFTP sessions", limit)
            self.sftp_sessions += 1
            return None

    def sftp_ended(self) -> None:
        with self._lock:
            if self.sftp_sessions <= 0:
                return
            self.sftp_sessions -= 1
        event("gateway.session", account=self.account, peer=self.peer, state="close")

    # Everything else is refused: shell, exec, pty, x11, env, port forwarding.
    def check_channel_exec_request(self, channel, command):
        return self._refuse_shell(channel)

    def check_channel_shell_request(self, channel):
        return self._refuse_shell(channel)

    def _refuse_shell(self, channel: paramiko.Channel) -> bool:
        refusal = self.admit()
        return end_at_once(channel, refusal) if refusal else refuse(channel, SFTP_ONLY)

    def check_channel_pty_request(self, channel, *args):
        return refuse(channel, self.admit() or SFTP_ONLY)  # `ssh -t` quits right after

    def check_channel_x11_request(self, *args):
        return False

    def check_channel_env_request(self, *args):
        return False

    def check_channel_forward_agent_request(self, channel):
        return False

    def check_port_forward_request(self, address, port):
        return False

    def check_channel_direct_tcpip_request(self, chanid, origin, destination):
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_global_request(self, kind, msg):
        return False


class GatewayServer:
    """``GatewayServer(config).start()`` listens (port 0 picks a free port); ``.stop()`` ends all."""

    # seconds a connection over the limit may stay to open a session and read why it is refused
    over_limit_grace = 3.0

    def __init__(self, config: GatewayConfig):
        self.store = ConfigStore(config, on_error=lambda e: event("gateway.config", result="error", error=str(e)),
                                 on_reload=lambda c: event("gateway.config", result="reloaded",
                                                           accounts=len(c.accounts)))
        self._lock = threading.Lock()
        self._connections: dict[str, int] = {}
        self._usage: dict[str, Usage] = {}
        self._transports: set[paramiko.Transport] = set()
        self._threads: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self.writers = Writers()  # upload names open for write, shared by every session (gateway/writers.py)
        self._sweeper = Sweeper(self.store, self.writers, self._stopping)
        self._sock: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self.host_key: paramiko.PKey | None = None
        self.port: int | None = None

    # -- bookkeeping -----------------------------------------------------
    def active_sessions(self, account: str) -> int:
        """Places of the account's ``max_sessions_per_account`` taken: its logged-in connections."""
        with self._lock:
            return self._connections.get(account, 0)

    def count_connection(self, account: str) -> str | None:
        """Take one of the account's places; ``None``, or the sentence that tells it why not."""
        limit = self.store.current.max_sessions_per_account
        with self._lock:
            n = self._connections.get(account, 0)
            if n >= limit:
                return too_many(account, n, "connections", limit)
            self._connections[account] = n + 1
            return None

    def release_connection(self, account: str) -> None:
        with self._lock:
            self._connections[account] = max(0, self._connections.get(account, 0) - 1)

    def usage(self, account: str) -> Usage:
        with self._lock:
            if account not in self._usage:
                self._usage[account] = Usage(self.store.current.county_dir(account))
            return self._usage[account]

    # -- life cycle ------------------------------------------------------
    def start(self) -> "GatewayServer":
        config = self.store.current
        config.ensure_spool()
        self.host_key = load_or_create_host_key(config.host_key or config.spool / ".host_ed25519")
        sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        sock.listen(128)
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="gateway-accept", daemon=True)
        self._accept_thread.start()
        self._sweeper.start()
        event("gateway.start", host=config.host, port=self.port, spool=str(config.spool),
              accounts=len(config.accounts))
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._sock is not None:
            self._sock.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        with self._lock:
            transports, threads = list(self._transports), list(self._threads)
        for t in transports:
            t.close()
        deadline = time.monotonic() + timeout
        for th in threads:
            th.join(max(0.0, deadline - time.monotonic()))
        if self._sweeper.is_alive():
            self._sweeper.join(max(0.0, deadline - time.monotonic()))
        event("gateway.stop", port=self.port)

    def serve_forever(self, stop_event: threading.Event) -> None:
        self.start()
        try:
            while not stop_event.wait(0.5):
                pass
        finally:
            self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, addr = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            th = threading.Thread(target=self._serve, args=(client, addr), name=f"gateway-{addr[1]}", daemon=True)
            with self._lock:
                self._threads.add(th)
            th.start()

    def _serve(self, client: socket.socket, addr) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(client, default_window_size=WINDOW_SIZE,
                                       default_max_packet_size=MAX_PACKET_SIZE)
        conn = GatewayConnection(self, peer, transport)
        with self._lock:
            self._transports.add(transport)
        try:
            transport.add_server_key(self.host_key)
            transport.get_security_options().ciphers = self.store.current.ciphers
            transport.set_subsystem_handler("sftp", GatewaySFTPServer, JailedSFTPServer)
            transport.start_server(server=conn)
            self._watch(transport, conn)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            event("gateway.connection", peer=peer, result="error", error=str(exc))
        finally:
            transport.close()
            with self._lock:
                self._transports.discard(transport)
                self._threads.discard(threading.current_thread())
            if conn.counted:
                self.release_connection(conn.account)
            if conn.account:
                event("gateway.connection", peer=peer, account=conn.account, state="close")

    def _watch(self, transport: paramiko.Transport, conn: GatewayConnection) -> None:
        """Count who authenticated; close the connection when idle too long, over the limit
        for longer than the grace period, or on stop."""
        logged = False
        while transport.is_active() and not self._stopping.is_set():
            if not logged and transport.is_authenticated():
                logged = True
                conn.admit()
                event("gateway.auth", account=conn.account, peer=conn.peer, method="publickey", result="ok")
            if conn.refusal and time.monotonic() - conn.admitted_at > self.over_limit_grace:
                disconnect(transport, DISCONNECT_TOO_MANY_CONNECTIONS, english(conn.refusal))
                break
            idle = self.store.current.idle_timeout
            if idle and time.monotonic() - conn.last_activity > idle:
                event("gateway.connection", peer=conn.peer, account=conn.account, state="idle-timeout")
                break
            transport.join(0.05 if not logged else 0.25)  # returns at once when the client leaves

