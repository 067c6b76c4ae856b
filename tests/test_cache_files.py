"""The disk cache survives damage: a generated module or a Numba cache file cut short or
overwritten is discarded and rebuilt, and processes racing on one empty cache all get right
gradients. Each case runs in fresh interpreters, against the analytic derivative."""
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import zygopy
import zygopy.api
from zygopy.backend.numba_cpu import compiled
from zygopy.backend.numba_cpu.compiled import CompiledGradient
from zygopy.backend.numba_cpu.jit import load_module
from zygopy.errors import ZygopyError
from zygopy.ir.types import Scalar
from zygopy.programs import gradient_program

from .test_threads import brand_new_function

PROCESSES = 4

# a fresh interpreter: waits (when asked) until all its peers have imported zygopy, then prints
# the gradient of bumpy by gradient and by pullback
CHILD = """
import math, os, sys, time
import zygopy


def bumpy(x, n):
    s = 0.0
    for i in range(n):
        s += math.sin(x * i)
    return s


ready = os.environ.get("READY_DIR")
if ready:
    open(os.path.join(ready, str(os.getpid())), "w").close()
    deadline = time.monotonic() + 120
    while len(os.listdir(ready)) < int(os.environ["PEERS"]) and time.monotonic() < deadline:
        time.sleep(0.01)
_, back = zygopy.pullback(bumpy, 0.3, 7)
print(repr(zygopy.gradient(bumpy, 0.3, 7)[0]), repr(back(1.0)[0]))
"""
EXPECTED = sum(i * math.cos(0.3 * i) for i in range(7))


def start(script, cache, **env):
    """The child, on `cache`, running compiled code only (none interpreted while compiling), so
    that a failure to load or compile shows."""
    env = dict(os.environ, ZYGOPY_CACHE_DIR=str(cache), ZYGOPY_INTERPRET_WHILE_COMPILING="0", **env)
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def check(proc):
    """The child ran without an error and printed the right gradient twice."""
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    grads = [float(g) for g in out.split()]
    assert grads == pytest.approx([EXPECTED, EXPECTED], rel=1e-12)


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """The child script and a cache directory that a first process filled."""
    folder = tmp_path_factory.mktemp("filled")
    script = folder / "child.py"
    script.write_text(CHILD)
    check(start(script, folder / "cache"))
    return script, folder / "cache"


KINDS = {"module": "zygopy_generated_*.py", "index": "__pycache__/*.nbi",
         "data": "__pycache__/*.nbc"}
DAMAGES = {"cut short": lambda data: data[: len(data) // 2],
           "overwritten": lambda data: random.Random(len(data)).randbytes(len(data))}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_damaged_file_is_rebuilt(filled, tmp_path, kind, damage):
    script, pristine = filled
    cache = tmp_path / "cache"
    shutil.copytree(pristine, cache)
    files = sorted(cache.glob(KINDS[kind]))
    # one module; Numba's files for the fused gradient, the forward and the pullback
    assert len(files) == (1 if kind == "module" else 3), files
    damaged = {f: DAMAGES[damage](f.read_bytes()) for f in files}
    for f, data in damaged.items():
        f.write_bytes(data)
    check(start(script, cache))
    for f, data in damaged.items():
        assert f.read_bytes() != data  # written again


def test_processes_racing_on_an_empty_cache(tmp_path):
    script, ready = tmp_path / "child.py", tmp_path / "ready"
    script.write_text(CHILD)
    ready.mkdir()
    procs = [start(script, tmp_path / "cache", READY_DIR=str(ready), PEERS=str(PROCESSES))
             for _ in range(PROCESSES)]
    try:
        for p in procs:
            check(p)
    finally:
        for p in procs:
            p.kill()  # those still running after a failure
            p.wait()


def test_cache_that_cannot_be_rebuilt_is_a_zygopy_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZYGOPY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ZYGOPY_INTERPRET_WHILE_COMPILING", "0")
    source = tmp_path / "src"
    source.mkdir()
    f, k = brand_new_function(source)
    assert zygopy.gradient(f, 0.3, 7)[0] == pytest.approx(
        sum(k * math.cos(k * 0.3 + i) for i in range(7)), rel=1e-12)  # cached on disk
    # forget the compiled code in memory, so that the next call loads it from the damaged disk
    # cache; and make deleting the damaged files do nothing, as in a read-only cache
    module = zygopy.api.compiled(f, (0.3, 7))._fused.py_func.__module__
    monkeypatch.setattr(zygopy.api, "_CACHE", {})
    monkeypatch.setattr(zygopy.api, "_FAST", {})
    monkeypatch.setattr(zygopy.api, "_LAST", {})
    monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(compiled, "discard_numba_cache", lambda dispatcher: None)
    for index in (tmp_path / "cache" / "__pycache__").glob(f"{module}.*.nbi"):
        index.write_bytes(b"damaged")
    with pytest.raises(ZygopyError, match="damaged"):
        zygopy.gradient(f, 0.3, 7)


@pytest.mark.parametrize("failure", ["typing", "lowering"])
def test_code_that_does_not_compile_is_an_internal_error_not_a_damaged_cache(failure, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setenv("ZYGOPY_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "src"
    source.mkdir()
    f, _ = brand_new_function(source)
    c = CompiledGradient(gradient_program(f, [Scalar("float64"), Scalar("int64")], (0, 1)))
    # generated code that Numba cannot type, or a compiler that fails in lowering with a plain
    # TypeError (as Numba does on mismatched array types): a code generator bug, not the cache
    c._module = load_module(f"@njit(cache=True)\ndef {f.__name__}_value_and_gradient(*args):\n"
                            "    return an_undefined_name\n")
    if failure == "lowering":
        def lowering_fails(types):
            raise TypeError("expecting {double*} but got {float*}")
        monkeypatch.setattr(c._fused, "compile", lowering_fails)
    with pytest.raises(ZygopyError) as caught:
        c.value_and_gradient((0.3, 7))
    assert "internal error" in str(caught.value) and "damaged" not in str(caught.value)


@pytest.mark.parametrize("changed", ["backend/numba_cpu/nn_kernels.py",
                                     "ir/array_primitives.py"])
def test_a_changed_runtime_helper_makes_new_modules(tmp_path, changed):
    """Numba's cache of a generated module does not notice a helper it linked in change: the
    helpers' digest is in every module's source (and so in its name), and changes with them and
    with the files they import. runtime.py compiles ir/array_primitives.py's cholesky_gradient:
    that file was not in the digest, and a zygopy with another Cholesky gradient kept using the
    cached one (a silently wrong gradient)."""
    from zygopy.backend.numba_cpu import source
    package = Path(source.__file__).parents[2]
    shutil.copytree(package, tmp_path / "zygopy", ignore=shutil.ignore_patterns("__pycache__"))
    folder = tmp_path / "zygopy" / "backend" / "numba_cpu"
    digest = source.runtime_digest(folder)
    assert digest == source.runtime_digest() and digest in source.HEADER
    with open(tmp_path / "zygopy" / changed, "a") as f:
        f.write("\n# a changed helper\n")
    assert source.runtime_digest(folder) != digest


LEVEL_CHILD = """
import numpy as np
import zygopy
from zygopy.backend.numba_cpu import runtime

def f(x):
    return np.sum(np.exp(x) * x)

print(float(zygopy.gradient(f, np.ones(3))[0][0]))
runtime.zy_softmax_middle(np.ones((2, 3, 1)))
print(runtime.zy_softmax_middle.stats.cache_path is not None)
"""


def test_code_compiled_at_another_optimisation_level_is_kept_apart(tmp_path):
    """Numba's disk cache does not tell optimisation levels apart: the suite's NUMBA_OPT=1 code,
    left where later processes look, made their loops unvectorised. The helpers are cached at
    the default level only; a generated module carries its level in its source, and its name."""
    script = tmp_path / "child.py"
    script.write_text(LEVEL_CHILD)
    cached = {}
    for level in ("1", "3"):
        out, err = start(script, tmp_path / "cache", NUMBA_OPT=level).communicate(timeout=300)
        value, helper_cached = out.split()
        assert float(value) == pytest.approx(2 * math.e, rel=1e-12), err[-3000:]
        cached[level] = helper_cached == "True"
        assert len(list((tmp_path / "cache").glob("zygopy_generated_*.py"))) == int(level) // 2 + 1
    assert cached == {"1": False, "3": True}


BOUNDS_CHILD = """
import numpy as np
import zygopy


def pick(x, i):
    return x[i] * x[0]


try:
    zygopy.gradient(pick, np.array([1.0, 2.0, 3.0]), 3)
    print("no error")
except IndexError:
    print("IndexError")
"""


def test_code_compiled_with_other_numba_settings_is_kept_apart(tmp_path):
    """A process run once with NUMBA_BOUNDSCHECK=0 left modules without bounds checks where later
    processes found them: x[3] of three elements read stray memory (a garbage gradient, or a
    crash) where the README promises IndexError. Numba's settings are part of a module's source."""
    script = tmp_path / "child.py"
    script.write_text(BOUNDS_CHILD)
    out, err = start(script, tmp_path / "cache", NUMBA_BOUNDSCHECK="0").communicate(timeout=300)
    assert out.strip() in ("no error", "IndexError"), err[-3000:]  # unchecked: whatever it read
    out, err = start(script, tmp_path / "cache").communicate(timeout=300)
    assert out.strip() == "IndexError", err[-3000:]


def test_the_runtime_digest_covers_the_files_its_helpers_come_from():
    """Every compiled helper generated code may call has its source in the digest."""
    import inspect

    from numba.core.registry import CPUDispatcher

    from zygopy.backend.numba_cpu import runtime, source
    folder = Path(source.__file__).parent
    digested = source._imported_closure([folder / name for name in source.RUNTIME_FILES],
                                        folder.parents[1])
    helpers = [f for f in vars(runtime).values() if isinstance(f, CPUDispatcher)]
    assert runtime.zy_cholesky_grad in helpers
    for helper in helpers:
        assert Path(inspect.getfile(helper.py_func)).resolve() in digested, helper


@pytest.mark.parametrize("interpret", ["0", "1"])
def test_an_unusable_cache_directory_is_a_clear_error(tmp_path, monkeypatch, interpret):
    """ZYGOPY_CACHE_DIR naming a file gave FileExistsError from pathlib (and a read-only one an
    OSError from a temporary file's creation), on the compiled route or the later calls."""
    fresh, _ = brand_new_function(tmp_path)
    (tmp_path / "a file").write_text("")
    monkeypatch.setenv("ZYGOPY_CACHE_DIR", str(tmp_path / "a file"))
    monkeypatch.setenv("ZYGOPY_INTERPRET_WHILE_COMPILING", interpret)
    with pytest.raises(ZygopyError, match="cache directory .*a file cannot be used") as info:
        for _ in range(3):
            zygopy.gradient(fresh, 0.3, 4)
    assert "ZYGOPY_CACHE_DIR" in str(info.value)
