"""Compile generated source with Numba, caching on disk so a second process starts fast.

Numba's disk cache needs a real file and a module registered in `sys.modules`, so each generated
source is written to the user cache directory under a name derived from its hash; Numba keeps the
machine code in `__pycache__/` there.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import types
from pathlib import Path

from ...errors import ZygopyError
from .source import HEADER


def cache_dir() -> Path:
    root = os.environ.get("ZYGOPY_CACHE_DIR")
    if root:
        path = Path(root)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "zygopy"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _unusable(path, e) from None
    return path


def _unusable(path, error):
    return ZygopyError(f"the cache directory {path} cannot be used: {error.strerror or error}",
                       hint="set ZYGOPY_CACHE_DIR to a directory this process may write into")


def load_module(source: str, cached=True):
    """Import generated source as a module, its file in the cache directory. The module is in
    `sys.modules` only once it has run whole, so another thread never sees it half-built. With
    cached=False the module is fresh each time and not registered (for inspection)."""
    source = HEADER + "\n\n" + source
    modname = _module_name(source)
    if cached and modname in sys.modules:
        return sys.modules[modname]
    if not cached:
        return _run(types.ModuleType(modname), source, f"<zygopy {modname}>")
    # Numba's disk cache needs a real file, next to which it keeps its own
    path = cache_dir() / f"{modname}.py"
    _write_unless_equal(path, source.encode())
    return _registered(modname, source, path)


def import_generated(modname: str):
    """A generated module by its name: loaded already, or from its file in the cache directory
    (where a module compiled in a child process finds the units it calls)."""
    module = sys.modules.get(modname)
    if module is None:
        path = cache_dir() / f"{modname}.py"
        source = path.read_text()
        if _module_name(source) != modname:  # a file cut short or overwritten
            raise ImportError(f"the generated module {path} is damaged")
        module = _registered(modname, source, path)
    return module


def _registered(modname, source, path):
    module = types.ModuleType(modname)
    module.__file__ = str(path)
    _run(module, source, str(path))
    # Numba's cached code finds its module by name; a thread that built it too uses the first
    return sys.modules.setdefault(modname, module)


def _run(module, source, filename):
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def module_name(source: str) -> str:
    """The name of the module load_module makes of generated `source`."""
    return _module_name(HEADER + "\n\n" + source)


def _module_name(full_source: str) -> str:
    return f"zygopy_generated_{hashlib.sha256(full_source.encode()).hexdigest()[:24]}"


def in_disk_cache(source: str) -> bool:
    """Whether Numba's disk cache holds machine code for generated `source` (found without
    importing Numba: its files sit in `__pycache__/` beside the module's file)."""
    modname = module_name(source)
    return any(_cache_files(cache_dir() / "__pycache__", modname, "nbi"))


def _write_unless_equal(path: Path, data: bytes):
    """Writes `data` to `path` unless the file holds exactly that already (a file cut short or
    overwritten is written again). Atomic: a reader sees the old file or the new one."""
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    except OSError as e:  # read-only, full, not ours
        raise _unusable(path.parent, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cache_files(folder, modname, suffix="nb[ic]"):
    """Numba's cache files (index .nbi, data .nbc) of the functions of module `modname`."""
    return Path(folder).glob(f"{modname}.*.{suffix}")


def numba_cache_files(dispatcher) -> list:
    """The Numba cache files of every function of dispatcher's module."""
    return list(_cache_files(dispatcher.stats.cache_path, dispatcher.py_func.__module__))


def discard_numba_cache(dispatcher):
    """Deletes the Numba cache files of every function of dispatcher's module."""
    for f in numba_cache_files(dispatcher):
        f.unlink(missing_ok=True)


# Run by compile_in_child: the parent's sys.path, the source, the function and its Numba types
# come on stdin (pickled by zygopy itself, never read from a file)
_CHILD = """
import pickle, sys
path, source, name, types = pickle.load(sys.stdin.buffer)
sys.path[:0] = path
from zygopy.backend.numba_cpu.jit import load_module
getattr(load_module(source), name).compile(types)
"""


def compile_in_child(source: str, name: str, types: tuple) -> bool:
    """Compiles `name` of the generated `source` for Numba `types` in a fresh interpreter, which
    writes the machine code to the disk cache. True if it did; on any failure the caller
    compiles in its own process, and reports errors from there."""
    try:
        # no pipes to read: the child may outlive this process, and must not die writing to one
        done = subprocess.run([sys.executable, "-c", _CHILD], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=3600,
                              input=pickle.dumps((sys.path, source, name, types)))
    except (OSError, subprocess.SubprocessError, pickle.PicklingError):
        return False
    return done.returncode == 0
