"""A bounded cache of shape programs per worker process, and the fingerprint of the folders they rest on.

The cap is a memory budget: programs are counted, each at PROGRAM_BYTES (measured by bench/resident.py: the
resident set grows about that much per program built), so a cache of cap_mb keeps at most
cap_mb * 2**20 // PROGRAM_BYTES programs, the least recently used leaving first.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from collections import OrderedDict

PROGRAM_BYTES = 3 * 2**20  # 2.5 MB a program measured (bench/resident.py, 100 programs: 60 -> 321 MB); rounded up
# The programs' budget, so that a whole worker stays under 300 MB: about 65 MB loaded, plus the programs, plus a
# slow growth of interned symbols. With 220 MB (73 programs), bench/resident.py --only-memory gave 282, 296, 303
# and 302 MB after each 1,000 varied encounters: over the 300; hence 200 MB (66 programs).
DEFAULT_CAP_MB = 200


TRIM_EVERY = 10  # evictions between two returns of freed memory to the system


def _trim() -> None:
    """Give freed heap back to the system (glibc's malloc_trim), so the resident set follows the programs held."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class ProgramCache:
    def __init__(self, cap_mb: int = DEFAULT_CAP_MB, program_bytes: int = PROGRAM_BYTES):
        self.cap_mb = cap_mb
        self.max_programs = max(1, cap_mb * 2**20 // program_bytes)
        self._programs: OrderedDict = OrderedDict()
        self.hits = self.misses = self.evictions = 0

    def get(self, key):
        prog = self._programs.get(key)
        if prog is None:
            self.misses += 1
            return None
        self._programs.move_to_end(key)
        self.hits += 1
        return prog

    def put(self, key, prog) -> None:
        self._programs[key] = prog
        self._programs.move_to_end(key)
        while len(self._programs) > self.max_programs:
            self._programs.popitem(last=False)
            self.evictions += 1
            if self.evictions % TRIM_EVERY == 0:
                _trim()

    def clear(self) -> None:
        self._programs.clear()

    def __len__(self) -> int:
        return len(self._programs)

    def stats(self) -> dict:
        return {"programs": len(self), "max_programs": self.max_programs, "cap_mb": self.cap_mb,
                "hits": self.hits, "misses": self.misses, "evictions": self.evictions}
