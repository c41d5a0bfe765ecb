"""The allocator of payerkb's processes (solver/allocator.py): the command line restarts itself once on
mimalloc where it is installed, keeps its arguments, standard input and exit status, answers byte for byte
as on the C library's allocator, and PAYERKB_ALLOCATOR=system keeps the C library's. The service's workers
(tests/test_service.py, /readyz) inherit it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from solver import allocator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from varied import varied_encounters  # noqa: E402

needs_mimalloc = pytest.mark.skipif(allocator.library() is None, reason="mimalloc is not installed on this platform")


def run(args: list[str], allocator_env: str | None = None, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PAYERKB_ALLOCATOR", "PAYERKB_ALLOCATOR_RESTARTED")}
    if allocator_env is not None:
        env["PAYERKB_ALLOCATOR"] = allocator_env
    env.update(kw.pop("env", {}))
    return subprocess.run([sys.executable, "-m", "solver", *args], capture_output=True, text=True, cwd=ROOT, env=env, **kw)


@needs_mimalloc
def test_the_command_line_runs_on_mimalloc_and_system_keeps_the_c_library_allocator():
    assert "allocator: mimalloc" in run(["--version"]).stdout
    assert "allocator: system" in run(["--version"], "system").stdout


@needs_mimalloc
def test_the_command_line_restarts_at_most_once():
    out = run(["--version"], env={"PAYERKB_ALLOCATOR_RESTARTED": "1"})
    assert out.returncode == 0 and "allocator: system" in out.stdout


@needs_mimalloc
def test_a_restarted_check_reads_its_standard_input_and_keeps_its_exit_status(tmp_path):
    enc = varied_encounters(1, 3)[0]
    out = run(["check", "-", "--format", "json"], input=json.dumps(enc))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["encounter"] == enc["id"]
    bad = run(["check", str(tmp_path / "absent.json")])
    assert bad.returncode == 2 and "absent.json" in bad.stderr and "Traceback" not in bad.stderr


@needs_mimalloc
def test_answers_are_byte_identical_on_either_allocator(tmp_path):
    path = tmp_path / "varied.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in varied_encounters(400, 11)))
    fast = run(["check", str(path), "--format", "json"])
    plain = run(["check", str(path), "--format", "json"], "system")
    assert fast.returncode == plain.returncode == 0, (fast.stderr, plain.stderr)
    assert len(fast.stdout.splitlines()) == 400 and fast.stdout == plain.stdout


def test_importing_payerkb_never_changes_the_environment_of_your_process():
    before = dict(os.environ)
    from solver.service.app import create_app  # noqa: F401  the service's modules, the pool's
    from solver import api  # noqa: F401
    assert dict(os.environ) == before
