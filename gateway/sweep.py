"""The quiet-time sweep: an upload that never becomes complete is refused, and the county told why.

A truncated ZIP, a manifest whose checksums do not match, a file that is not a ZIP and has
no sidecar: none of these will ever be delivered, and without the sweep they would sit in
``.partial/`` forever, counted against the county's quota, with nobody told. Once nothing
has written to such a file for ``quiet_time`` seconds and no session has it open, the
sweep moves it (with its sidecar) to ``<spool>/<county>/.refused/`` for the operator and
writes a receipt ``refused-<name>-<UTC time>.json`` into the county's outbox that says, in
Chinese and English, what is wrong with it.
"""
from __future__ import annotations

import json
import os
import stat
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from gateway import complete
from gateway.complete import SIDECAR_SUFFIX, Problem
from gateway.config import ConfigStore, GatewayConfig
from gateway.log import event
from gateway.writers import Writers

REFUSED = ".refused"
WHAT_TO_DO_ZH = "请修正后重新上传整个文件（新的 put 从头开始）。被拒收的文件由网关保留，如需取回请联系省级管理员。"
WHAT_TO_DO_EN = ("Fix it and upload the whole file again (a new put starts from zero). The gateway keeps the "
                 "refused file: ask the province's operator if you need it back.")


def interval(config: GatewayConfig) -> float:
    """Seconds between sweeps: often enough that a refusal comes at most a quarter late."""
    return min(60.0, config.quiet_time / 4) if config.quiet_time else 60.0


def sweep(config: GatewayConfig, writers: Writers, now: float | None = None) -> list[Path]:
    """Refuse every upload of every account quiet for ``quiet_time``; returns the receipts written."""
    if not config.quiet_time:
        return []
    now = time.time() if now is None else now
    receipts: list[Path] = []
    for account in config.accounts:
        receipts += sweep_account(config, account, writers, now)
    return receipts


def sweep_account(config: GatewayConfig, account: str, writers: Writers, now: float) -> list[Path]:
    partial = config.county_dir(account) / ".partial"
    try:
        mtimes = _mtimes(partial)
    except OSError:
        return []
    receipts = []
    for name in sorted(mtimes):
        base = complete.base_of_sidecar(name)
        if name.startswith(".") or base is not None and base in mtimes:
            continue  # a sidecar goes with its file
        if now - mtimes[name] < config.quiet_time:
            continue  # written lately: the common case, decided without a claim
        try:
            receipt = _sweep_one(config, account, name, writers, now)
        except OSError as exc:
            event("gateway.sweep", account=account, file=name, result="error", error=str(exc))
            continue
        if receipt is not None:
            receipts.append(receipt)
    return receipts


def _mtimes(folder: Path) -> dict[str, float]:
    found = {}
    with os.scandir(folder) as it:
        for entry in it:
            try:
                found[entry.name] = entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                pass  # delivered or removed since the listing
    return found


def _regular(path: Path) -> os.stat_result | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _sweep_one(config: GatewayConfig, account: str, name: str, writers: Writers, now: float) -> Path | None:
    """Refuse ``name`` (and its sidecar) if quiet long enough and not open; None if left alone."""
    county = config.county_dir(account)
    src = county / ".partial" / name
    side = county / ".partial" / (name + SIDECAR_SUFFIX)
    base = complete.base_of_sidecar(name)  # a lone sidecar waits while its file is being sent
    with writers.holding(account, [name, side.name] + ([base] if base else [])) as free:
        st, side_st = _regular(src), _regular(side)
        if not free or st is None:
            return None
        last = max(st.st_mtime, side_st.st_mtime if side_st else 0)
        if now - last < config.quiet_time:
            return None
        problem = reason(config, src, side if side_st else None)
        if problem is None:  # whole after all (the gateway stopped between close and delivery)
            delivered = complete.move_fresh(src, county / "inbox", name, side if side_st else None)
            event("gateway.transfer", account=account, file=name, bytes=st.st_size, result="complete",
                  delivered_as=delivered, by="sweep")
            return None
        receipt = write_receipt(county / "outbox", account, src, problem, last, now)
        (county / REFUSED).mkdir(exist_ok=True)
        kept = complete.move_fresh(src, county / REFUSED, name, side if side_st else None)
    event("gateway.transfer", account=account, file=name, bytes=st.st_size, result="refused",
          reason=problem.code, error=problem.en, kept_as=f"{REFUSED}/{kept}", receipt=receipt.name)
    return receipt


def reason(config: GatewayConfig, path: Path, sidecar: Path | None) -> Problem | None:
    """What is wrong with a quiet upload, or None if it is complete after all."""
    base = complete.base_of_sidecar(path.name)
    if base is not None:
        return Problem("sidecar-alone", f"收到校验文件 {path.name}，但没有等待交付的 {base}，或与已交付的 {base} 不符",
                       f"the checksum file {path.name} arrived, but no file {base} is waiting for it "
                       f"(or it does not match the {base} already delivered)")
    if config.is_temp_name(path.name):
        return Problem("temp-name", f"{path.name} 一直使用临时文件名，上传后没有改为正式文件名",
                       f"{path.name} kept its temporary name: it was never renamed to its final name "
                       "after the upload")
    return complete.problem(path, sidecar)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc).replace(microsecond=0)


def receipt_body(account: str, path: Path, problem: Problem, last: float, now: float) -> dict:
    return {
        "status": "refused",
        "county_code": account,
        "file": path.name,
        "bytes": path.stat().st_size,
        "sha256": complete.sha256_file(path),
        "last_written_at": _utc(last).isoformat(),
        "refused_at": _utc(now).isoformat(),
        "error_code": problem.code,
        "message_zh": problem.zh,
        "message_en": problem.en,
        "what_to_do_zh": WHAT_TO_DO_ZH,
        "what_to_do_en": WHAT_TO_DO_EN,
    }


def receipt_name(name: str, now: float) -> str:
    """``refused-<name>-<UTC time>.json``, cut to the 128 characters a county can download."""
    tail = f"-{_utc(now).strftime('%Y%m%dT%H%M%SZ')}.json"
    return "refused-" + name[: complete.NAME_MAX - len("refused-") - len(tail) - 8] + tail


def write_receipt(outbox: Path, account: str, path: Path, problem: Problem, last: float, now: float) -> Path:
    """Write the receipt under a hidden temporary name, then link it in: it appears whole."""
    data = json.dumps(receipt_body(account, path, problem, last, now), ensure_ascii=False, indent=2)
    name = receipt_name(path.name, now)
    tmp = outbox / f".{name}.{os.urandom(4).hex()}.part"
    with open(tmp, "x", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        return outbox / complete.move_fresh(tmp, outbox, name)
    finally:
        tmp.unlink(missing_ok=True)


class Sweeper(threading.Thread):
    """Runs ``sweep`` at start and then every ``interval`` seconds until ``stop`` is set."""

    def __init__(self, store: ConfigStore, writers: Writers, stop: threading.Event):
        super().__init__(name="gateway-sweep", daemon=True)
        self.store, self.writers, self.stopping = store, writers, stop

    def run(self) -> None:
        while not self.stopping.is_set():
            config = self.store.refresh()
            try:
                sweep(config, self.writers)
            except Exception as exc:  # noqa: BLE001 - the sweep must outlive one bad folder
                event("gateway.sweep", result="error", error=repr(exc))
            if self.stopping.wait(interval(config)):
                return
