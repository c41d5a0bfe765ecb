"""Has anything under the policies or knowledge-base folders changed? Asked before every resident answer.

On Linux an inotify watch on every folder answers with one non-blocking read (a few microseconds): any
event (a file written, created, removed, moved, its attributes changed) is a change. Elsewhere, or when
inotify is refused, a fingerprint of every file's path, size and modification time is compared, at most
every `interval` seconds (0: on every call).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import time
from pathlib import Path

_MASK = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800  # modify attrib close_write moved create delete self
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000


def fingerprint(*folders: Path) -> str:
    """A hash of every file's path, size and modification time under the folders."""
    h = hashlib.sha1()
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                p = os.path.join(root, name)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class FolderWatch:
    def __init__(self, *folders: Path, interval: float = 0.0):
        self.folders = [Path(f) for f in folders]
        self.interval = interval
        self._fd = self._inotify()
        self._print = fingerprint(*self.folders)
        self._checked = time.monotonic()

    def _inotify(self) -> int | None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
            if fd < 0:
                return None
            for folder in self.folders:
                for root, _dirs, _files in os.walk(folder):
                    if libc.inotify_add_watch(fd, os.fsencode(root), _MASK) < 0:
                        os.close(fd)
                        return None
            return fd
        except (OSError, AttributeError):
            return None

    def changed(self) -> bool:
        """True once for each change since the last call (and the watch is then set up again)."""
        if self._fd is not None:
            try:
                os.read(self._fd, 65536)
            except BlockingIOError:
                return False
            self._renew()
            return True
        now = time.monotonic()
        if now - self._checked < self.interval:
            return False
        self._checked = now
        fp = fingerprint(*self.folders)
        if fp == self._print:
            return False
        self._print = fp
        return True

    def _renew(self) -> None:
        """After a change: drain the events, watch every folder again (new ones too)."""
        old = self._fd
        self._fd = self._inotify()
        if old is not None:
            os.close(old)
        self._print = fingerprint(*self.folders)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
