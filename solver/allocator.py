"""The memory allocator of payerkb's processes: mimalloc where its library is installed (the cmeel-mimalloc
wheel, a dependency on Linux x86-64), else the C library's malloc.

clingo allocates and frees a great many small blocks in every grounding (glibc's malloc, free and
malloc_consolidate are about a quarter of a program's build under perf). With mimalloc a one-encounter check
took 22 ms against 34 (-35%) and `payerkb check` over 6,000 varied encounters on two cores 24 s against 30,
with byte-identical answers (README, Speed; tests/test_allocator.py holds the answers equal).

A process takes its allocator when it starts (LD_PRELOAD), so:
- the command line starts itself again once, with mimalloc preloaded, before it imports anything heavy
  (restart_with_mimalloc): the same process id, arguments, standard streams and environment, plus LD_PRELOAD.
  The batch workers it forks and the service workers `payerkb serve` spawns inherit it (`/readyz` says which
  allocator the workers run on). payerkb starts no other program, so no other program inherits it.
- a program of yours that imports solver.api, or serves the app under a server of its own, keeps its own
  allocator: start it with LD_PRELOAD set to library() (`payerkb --version` names it) to have mimalloc there
  too. The environment of your process is never changed (a browser or another program it starts could not
  run with an allocator preloaded under it).
PAYERKB_ALLOCATOR=system keeps the C library's allocator everywhere. Only the standard library is imported
here: this runs before the rest of payerkb is imported.
"""
from __future__ import annotations

import os
import sys

ENV = "PAYERKB_ALLOCATOR"  # "system": the C library's malloc; anything else (or unset): mimalloc where installed
_RESTARTED = "PAYERKB_ALLOCATOR_RESTARTED"  # set for the restarted process: a command restarts at most once
_NAME = "libmimalloc"


def wanted() -> bool:
    return os.environ.get(ENV, "").strip().lower() != "system"


def library() -> str | None:
    """The path of the installed mimalloc library (cmeel-mimalloc's prefix on the import path), or None."""
    if not sys.platform.startswith("linux"):
        return None
    for entry in sys.path:
        path = os.path.join(entry or ".", "cmeel.prefix", "lib", _NAME + ".so")
        if os.path.isfile(path):
            return os.path.abspath(path)
    return None


def in_use() -> str:
    """'mimalloc' when this process has mimalloc loaded, else 'system'."""
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            return "mimalloc" if any(_NAME in line for line in maps) else "system"
    except OSError:
        return "system"


def _preload_with(lib: str) -> str:
    rest = os.environ.get("LD_PRELOAD", "").strip()
    return f"{lib} {rest}".strip()


def restart_with_mimalloc() -> None:
    """Start this command again with mimalloc preloaded (os.execve: the same process), where mimalloc is
    installed, wanted and not yet loaded; else return and run on the C library's allocator."""
    if not wanted() or os.environ.get(_RESTARTED) or _NAME in os.environ.get("LD_PRELOAD", ""):
        return
    lib = library()
    argv = list(getattr(sys, "orig_argv", None) or ())
    if lib is None or not argv or not sys.executable:
        return
    env = dict(os.environ, LD_PRELOAD=_preload_with(lib), **{_RESTARTED: "1"})
    try:
        os.execve(sys.executable, [sys.executable, *argv[1:]], env)
    except OSError:  # the interpreter could not be started again: go on as we are
        return
