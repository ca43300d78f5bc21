"""Quota memory: a provider that said "out of quota until T" is not launched again before T.

One JSON file under the state folder, `{provider: {account: entry}}`. An account is a
fingerprint of the credentials the vendor would use (never the credentials), so two API keys
of one provider are remembered apart. A run that ends with a reset time records it; a later
successful run of the same provider and account clears it. Read-modify-write is serialized
with an advisory lock, because many shims may finish at once.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from shims.state.private_files import (
    open_private,
    private_dir,
    read_private,
    replace_private_file,
    state_bytes,
)

QUOTA_NAME = "quota.json"


def account_key(env: Mapping[str, str], names: Iterable[str]) -> str:
    """`default`, or a short fingerprint of the values of the vendor's credential variables."""
    values = [f"{n}={env[n]}" for n in names if env.get(n)]
    if not values:
        return "default"
    import hashlib  # here, not at the top: it loads OpenSSL (~2.5 ms), and most runs hash nothing

    return "key-" + hashlib.sha256("\n".join(values).encode()).hexdigest()[:12]


def parse_time(value: str | None) -> float | None:
    """RFC 3339 in UTC (`…Z` or `+00:00`, optional fraction) -> epoch seconds; else None."""
    m = _UTC_TIME.fullmatch(value.strip()) if value else None
    if m is None:
        return None
    year, month, day, hour, minute, second, rest = m.groups()
    leap = int(second) - 59 if second in ("60", "61") else 0
    try:
        when = datetime.fromisoformat(f"{year}-{month:0>2}-{day:0>2}T{hour:0>2}:{minute:0>2}:{int(second) - leap:02}{rest}")
    except ValueError:  # no such day or hour
        return None
    return when.timestamp() + leap


# The shape is checked first: fromisoformat takes more than RFC 3339 (week dates, no seconds,
# junk before the offset). Besides RFC 3339, what time.strptime took when it read these times:
# one-digit fields, a lowercase `t`, a leap second (:60, :61).
_UTC_TIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})((?:\.\d*)?(?:Z|\+00:00))", re.ASCII)


def format_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch + 0.999)))


class QuotaMemory:
    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = os.path.join(state_dir, QUOTA_NAME)

    def remember(self, provider: str, account: str, quota: Mapping[str, Any], *, ended_at: float, run_id: str | None) -> bool:
        """Record a quota failure that says when it ends. Returns whether it was recorded."""
        until = parse_time(quota.get("resets_at"))
        retry = quota.get("retry_after_s")
        if until is None and isinstance(retry, int | float) and retry > 0:
            until = ended_at + float(retry)
        if until is None or until <= ended_at:
            return False
        entry = {
            "state": quota.get("state") or "exhausted",
            "until": until,
            "resets_at": format_time(until),
            "window": quota.get("window"),
            "message": quota.get("message"),
            "recorded_at": ended_at,
            "run_id": run_id,
        }
        with self._locked() as data:
            if not isinstance(data.get(provider), dict):
                data[provider] = {}
            data[provider][account] = entry
        return True

    def clear(self, provider: str, account: str) -> None:
        if not os.path.exists(self.path):
            return
        with self._locked() as data:
            accounts = data.get(provider)
            if isinstance(accounts, dict):
                accounts.pop(account, None)
            if not accounts or not isinstance(accounts, dict):
                data.pop(provider, None)

    def active(self, provider: str, account: str, now: float | None = None) -> dict[str, Any] | None:
        """The recorded limit still in force, in contract `quota` shape, or None."""
        now = time.time() if now is None else now
        accounts = self._read().get(provider)
        entry = accounts.get(account) if isinstance(accounts, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("until"), int | float) or entry["until"] <= now:
            return None
        return {
            "state": entry.get("state") or "exhausted",
            "resets_at": entry.get("resets_at"),
            "retry_after_s": max(int(entry["until"] - now + 0.999), 1),
            "window": entry.get("window"),
            "message": entry.get("message"),
            "run_id": entry.get("run_id"),
        }

    def _read(self) -> dict[str, Any]:
        try:
            data = orjson.loads(read_private(self.path))
        except (OSError, orjson.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _sibling(self, suffix: str) -> str:
        """quota.lock, quota.tmp: the file's own name with another suffix."""
        return os.path.splitext(self.path)[0] + suffix

    def _locked(self):
        return _Locked(self)


class _Locked:
    def __init__(self, memory: QuotaMemory) -> None:
        self._m = memory
        self._fd = -1
        self.data: dict[str, Any] = {}

    def __enter__(self) -> dict[str, Any]:
        private_dir(os.path.dirname(self._m.path))
        self._fd = open_private(self._m._sibling(".lock"), os.O_RDWR | os.O_CREAT)
        # Never wait long: quota memory is advice, and the shim still has a result to write.
        deadline = time.monotonic() + 2.0
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self._fd)
                    raise TimeoutError(f"{self._m.path} is locked by another process") from None
                time.sleep(0.02)
        self.data = self._m._read()
        return self.data

    def __exit__(self, exc_type, *rest: object) -> None:
        try:
            if exc_type is None:
                # Messages come from vendors: masked like every state file.
                replace_private_file(self._m.path, state_bytes(orjson.dumps(self.data)))
        finally:
            os.close(self._fd)
