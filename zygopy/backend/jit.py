"""Compile generated source with Numba, caching on disk so a second process starts fast.

Numba's disk cache needs a real file in an importable module registered in `sys.modules`, so each
generated source is written once to the user cache directory under a name derived from its hash.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import types
from pathlib import Path

from .source import HEADER


def cache_dir() -> Path:
    root = os.environ.get("ZYGOPY_CACHE_DIR")
    if root:
        path = Path(root)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "zygopy"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_module(source: str, cached=True):
    """Import generated source as a module (written atomically to the cache directory). With
    cached=False the module is fresh each time and not registered (for inspection)."""
    source = HEADER + "\n\n" + source
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    modname = f"zygopy_generated_{digest}"
    if not cached:
        module = types.ModuleType(modname)
        exec(compile(source, f"<zygopy {modname}>", "exec"), module.__dict__)
        return module
    if modname in sys.modules:
        return sys.modules[modname]
    path = cache_dir() / f"{modname}.py"
    if not path.exists() or path.read_text() != source:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[modname]
        raise
    return module
