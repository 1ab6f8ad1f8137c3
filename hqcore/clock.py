"""The suite's single clock.

Domain and service code never call ``datetime.now()``; they ask ``get_clock(settings).now()``.
In ``real`` mode that is the system time. In ``controlled`` mode (demo and test) every process of
the suite reads one shared JSON file holding an offset from real time, so the gateway can set or
advance the time of the whole suite at once while time keeps running.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hqcore.config import Settings

#: China Standard Time. China has no daylight saving time, so a fixed offset is exact.
CHINA_TZ = timezone(timedelta(hours=8))

# A clock file whose mtime is this close to the moment it was read may still be rewritten within
# the same filesystem timestamp tick with the same size; such a cached read is not trusted.
_RACY_WINDOW_NS = 1_000_000_000


def local_date(moment: datetime) -> date:
    """The China-local calendar day of an aware instant."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: an aware datetime is required")
    return moment.astimezone(CHINA_TZ).date()


class Clock(Protocol):
    """Anything that tells the time of the suite."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def today(self) -> date:
        """The China-local date of ``now()``."""
        return local_date(self.now())


class SystemClock(Clock):
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def state(self) -> dict[str, Any]:
        return {"now": self.now().isoformat(), "offset_seconds": 0.0, "mode": "real"}


class ControlledClock(Clock):
    """Real time plus an offset kept in a JSON file shared by every process of the suite."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int] | None = None
        self._read_ns = 0
        self._offset = 0.0

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self._current_offset())

    def set(self, moment: datetime) -> None:
        """Make ``now()`` return ``moment`` from here on, in every process (backwards allowed)."""
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment!r}: an aware datetime is required")
        with self._exclusive():
            self._write((moment - datetime.now(timezone.utc)).total_seconds())

    def advance(self, delta: timedelta) -> None:
        """Move the suite's time forward by ``delta``."""
        if delta < timedelta(0):
            raise ValueError(f"cannot advance the clock by a negative duration ({delta})")
        with self._exclusive():
            self._write(self._read_offset() + delta.total_seconds())

    def reset(self) -> None:
        """Back to real time (offset 0)."""
        with self._exclusive():
            self._write(0.0)

    def state(self) -> dict[str, Any]:
        offset = self._current_offset()
        now = datetime.now(timezone.utc) + timedelta(seconds=offset)
        return {"now": now.isoformat(), "offset_seconds": offset, "mode": "controlled"}

    def _current_offset(self) -> float:
        """The offset, re-reading the file only when it (may have) changed."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return 0.0
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if signature == self._signature and st.st_mtime_ns < self._read_ns - _RACY_WINDOW_NS:
                return self._offset
        read_ns = time.time_ns()
        offset = self._read_offset()
        with self._lock:
            self._signature, self._read_ns, self._offset = signature, read_ns, offset
        return offset

    def _read_offset(self) -> float:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0.0
        try:
            return float(json.loads(text)["offset_seconds"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"clock file {self.path} is malformed: {exc!r}") from exc

    def _write(self, offset: float) -> None:
        """Replace the clock file atomically (temporary file + ``os.replace``)."""
        payload = {
            "offset_seconds": offset,
            "written_at": datetime.now(timezone.utc).isoformat(),
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise writers across threads and processes (read-modify-write of ``advance``)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with self._lock, open(lock_path, "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


_clocks: dict[tuple[str, Path | None], Clock] = {}
_clocks_lock = threading.Lock()


def get_clock(settings: Settings | None = None) -> Clock:
    """The clock selected by ``settings.clock_mode`` (one instance per mode and file)."""
    if settings is None:
        from hqcore.config import Settings

        settings = Settings.from_env()
    mode = settings.clock_mode
    if mode == "real":
        key: tuple[str, Path | None] = (mode, None)
    elif mode == "controlled":
        key = (mode, Path(settings.clock_file).resolve())
    else:
        raise ValueError(f"unknown clock mode {mode!r}: expected 'real' or 'controlled'")
    with _clocks_lock:
        clock = _clocks.get(key)
        if clock is None:
            clock = SystemClock() if key[1] is None else ControlledClock(key[1])
            _clocks[key] = clock
        return clock


_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO-8601 duration of weeks, days, hours, minutes, seconds ("P1DT2H30M")."""
    raw = text.strip().upper() if isinstance(text, str) else ""
    match = _DURATION.fullmatch(raw)
    if not match or raw in ("P", "PT") or raw.endswith("T"):
        raise ValueError(
            f"invalid duration {text!r}: expected ISO-8601 such as 'P3D', 'PT36H', 'P1DT2H30M' "
            "or 'P2W' (years and months are not accepted: their length varies)"
        )
    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    return timedelta(**parts)
