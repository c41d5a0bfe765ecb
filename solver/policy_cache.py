"""The loaded policies, kept between runs: a cold start reads one file instead of validating every policy file.

The cache holds the Policies that load_policies returned (rule sets, payers, rule instances, code tables,
the muscle vocabulary, the ICD-10-CM code set and its index), pickled, in the cache folder beside the
ICD-10-CM index (solver.paths.cache_dir). It is keyed by a fingerprint of everything the answer rests on:
every file of the policies folder and of the knowledge base (name relative to its folder, size, time), every
module of the solver package (a change of code is a change of shape), and the versions of payerkb, Python,
pydantic, clingo and simple-icd-10-cm. Any change of any of them, and the cache is rebuilt at once; a cache
that cannot be read, is corrupt, or holds anything but Policies of this fingerprint is ignored and rebuilt.
It is never a stale answer: what it returns equals load_policies on the same files.

A policies folder with problems is never cached: load_policies raises them, every time. Writes are atomic
(a temporary file renamed into place), so processes that start together (the service's workers) each read
a whole cache or none. PAYERKB_POLICY_CACHE=off turns the cache off (every run validates every file).
"""
from __future__ import annotations

import copy
import hashlib
import io
import os
import pickle
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from solver import __version__
from solver.paths import cache_dir

FORMAT = "payerkb-policies-1"
KEEP = 16  # cache files kept in the folder (one for each policies folder in use): the oldest beyond go
_PACKAGE = Path(__file__).resolve().parent

# What a cache file may name: the classes of the product and of the values it keeps, nothing callable else.
_ALLOWED = {("datetime", "date"), ("datetime", "datetime"), ("datetime", "timedelta"), ("pathlib", "PosixPath"),
            ("pathlib", "WindowsPath"), ("pathlib", "PurePosixPath"), ("pathlib", "PureWindowsPath"),
            ("collections", "OrderedDict"), ("collections", "defaultdict"), ("copyreg", "_reconstructor"),
            *(("builtins", n) for n in ("set", "frozenset", "dict", "list", "tuple", "str", "int", "float", "bool",
                                        "bytes", "bytearray", "object", "complex"))}


def enabled() -> bool:
    return os.environ.get("PAYERKB_POLICY_CACHE", "on").strip().lower() not in ("off", "0", "no", "false")


def _tree(root: Path, out: list[str]) -> None:
    """name (relative to root), size and time of every file under root, hidden files and caches aside."""
    base = len(str(root)) + 1
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            out.append(f"{folder[base:]}/ unreadable {exc.__class__.__name__}")
            continue
        for e in entries:
            if e.name == "__pycache__":
                continue
            try:
                if e.is_dir():
                    stack.append(e.path)
                    continue
                st = e.stat()
            except OSError:
                out.append(f"{e.path[base:]} unreadable")
                continue
            out.append(f"{e.path[base:]} {st.st_size} {st.st_mtime_ns}")


def _versions() -> list[str]:
    """The versions of what shapes the cached objects (read from the modules, already imported by now) and of
    the ICD-10-CM package the index was built from (read from its metadata: importing it parses its XML)."""
    import clingo
    import pydantic
    import pydantic_core
    import yaml
    from importlib import metadata
    try:
        icd = metadata.version("simple-icd-10-cm")
    except metadata.PackageNotFoundError:
        icd = "none"
    return [f"payerkb {__version__}", f"python {sys.version}", f"pydantic {pydantic.VERSION}",
            f"pydantic-core {pydantic_core.__version__}", f"clingo {clingo.__version__}", f"PyYAML {yaml.__version__}",
            f"simple-icd-10-cm {icd}"]


def fingerprint(root: Path, kb_dir: Path) -> str:
    """A hash of every input of load_policies(root, kb_dir) that can change its result."""
    lines = [FORMAT, f"policies {root.resolve()}", f"kb {kb_dir.resolve()}", *_versions()]
    for name, folder in (("policies", root), ("kb", kb_dir), ("solver", _PACKAGE)):
        files: list[str] = []
        _tree(folder, files)
        lines.append(f"[{name}]")
        lines.extend(sorted(files))
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def cache_file(root: Path, kb_dir: Path) -> Path:
    """One file for each pair of folders (a changed file rewrites it, so old versions do not pile up)."""
    key = hashlib.sha256(f"{root.resolve()}\n{kb_dir.resolve()}".encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return cache_dir() / "policies" / f"policies-{key}.pickle"


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module.startswith("solver.") and module in sys.modules and "." not in name:  # imported: no side effects
            found = super().find_class(module, name)
            if isinstance(found, type):  # a class of the product, never one of its functions
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not a class a policies cache holds")


class ShardedCodes(Mapping):
    """The ICD-10-CM codes of the index ({code: 1 billable, 0 header}, about 98,000), as the cache keeps them:
    one pickled dict for each first letter, unpickled when a code of that letter is first looked up. A check
    looks up a few diagnoses, so a cold start reads a few thousand codes, not all of them; it answers as the
    dict does (get, in, [], iteration, len)."""

    def __init__(self, shards: dict[str, bytes], size: int):
        self._raw = shards
        self._size = size
        self._open: dict[str, dict] = {}

    @classmethod
    def of(cls, codes: Mapping) -> "ShardedCodes":
        if isinstance(codes, ShardedCodes):
            return codes
        by_letter: dict[str, dict] = {}
        for code, leaf in codes.items():
            by_letter.setdefault(code[:1], {})[code] = leaf
        return cls({k: pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL) for k, v in by_letter.items()}, len(codes))

    def _shard(self, key) -> dict:
        if not isinstance(key, str):
            return {}
        letter = key[:1]
        got = self._open.get(letter)
        if got is None:
            raw = self._raw.get(letter)
            got = self._open[letter] = {} if raw is None else _Unpickler(io.BytesIO(raw)).load()
        return got

    def __getitem__(self, key):
        return self._shard(key)[key]

    def get(self, key, default=None):
        return self._shard(key).get(key, default)

    def __contains__(self, key) -> bool:
        return key in self._shard(key)

    def __iter__(self) -> Iterator[str]:
        for letter in sorted(self._raw):
            yield from self._shard(letter)

    def __len__(self) -> int:
        return self._size

    def __reduce__(self):
        return (ShardedCodes, (self._raw, self._size))


def _for_cache(policies):
    """A shallow copy of the policies as the cache keeps them, with the ICD-10-CM index beside them: the codes
    sharded (above), the sorted list of codes that expanding a pattern makes left to be made again."""
    from solver import icd10cm
    index = icd10cm._INDEX
    pol = copy.copy(policies)
    if pol.codeset is not None and index is not None:
        codes = ShardedCodes.of(index["codes"])
        pol.codeset = copy.copy(pol.codeset)
        pol.codeset._codes = codes
        pol.codeset._sorted = None
        index = {**index, "codes": codes}
    return pol, index


def read(path: Path, key: str):
    """The Policies in a cache file of this fingerprint, or None (missing, unreadable, corrupt, another key)."""
    from solver.policy import Policies
    try:
        data = path.read_bytes()
        got = _Unpickler(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - whatever is wrong with the file, it is rebuilt
        return None
    if not (isinstance(got, dict) and got.get("format") == FORMAT and got.get("key") == key
            and isinstance(got.get("policies"), Policies)):
        return None
    index = got.get("icd10cm_index")
    if isinstance(index, dict):
        from solver import icd10cm
        if icd10cm._INDEX is None:  # the same index icd10cm.index() reads (keyed by the package's version)
            icd10cm._INDEX = index
    return got["policies"]


def write(path: Path, key: str, policies) -> None:
    """Write atomically; a folder that cannot be written means no cache (the next run validates again)."""
    tmp = None
    try:
        kept, index = _for_cache(policies)
        blob = pickle.dumps({"format": FORMAT, "key": key, "policies": kept, "icd10cm_index": index},
                            protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
        tmp = None
    except Exception:  # noqa: BLE001 - a cache that cannot be written is no cache, never a failed run
        return
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _prune(path.parent)


def _prune(folder: Path) -> None:
    """Keep the KEEP newest cache files (the policies folders of tests and experiments come and go)."""
    try:
        files = sorted((p for p in folder.glob("policies-*.pickle")), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEEP:]:
            old.unlink()
    except OSError:
        pass


def load(root: Path, kb_dir: Path):
    """load_policies(root, kb_dir), from the cache when it holds this fingerprint (else loaded and cached)."""
    from solver.policy import load_policies, prepare_for_cache
    if not enabled():
        return load_policies(root, kb_dir)
    key = fingerprint(root, kb_dir)
    path = cache_file(root, kb_dir)
    cached = read(path, key)
    if cached is not None:
        return cached
    policies = load_policies(root, kb_dir)  # problems raise here: a bad folder is never cached
    prepare_for_cache(policies)
    write(path, key, policies)
    return policies
