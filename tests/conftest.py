import atexit
import os
import shutil
import tempfile
import threading

import pytest

# The suites check the compiled code: a gradient's first calls would otherwise be interpreted
# while it compiles (test_tiered.py tests that)
os.environ["ZYGOPY_INTERPRET_WHILE_COMPILING"] = "0"
# LLVM at -O1 (before Numba is imported): the suite checks what compiled code computes, not how
# fast it runs, and most of its time is Numba compiling (-O1 takes about a third less); set
# NUMBA_OPT=3 to test the optimised code users get
os.environ.setdefault("NUMBA_OPT", "1")
# A cache of this run's own (unless one is given): tests that count what compiles must not find
# code a previous run left in the user's cache
if "ZYGOPY_CACHE_DIR" not in os.environ:
    os.environ["ZYGOPY_CACHE_DIR"] = tempfile.mkdtemp(prefix="zygopy-tests-")
    atexit.register(shutil.rmtree, os.environ["ZYGOPY_CACHE_DIR"], ignore_errors=True)

from zygopy.backend.numba_cpu.compiled import CompiledGradient
from zygopy.ir.passes import pipeline


@pytest.fixture(autouse=True, scope="session")
def check_each_pass():
    """Verify the IR after every simplification pass, in every test (session-scoped so that
    hypothesis tests may use it)."""
    old = pipeline.CHECK_EACH_PASS
    pipeline.CHECK_EACH_PASS = True
    yield
    pipeline.CHECK_EACH_PASS = old


@pytest.fixture
def slow_compiler(monkeypatch):
    """Compilation that waits for the test to release it (the Event this yields): until then a
    gradient's calls surely run interpreted (backend/tiered.py)."""
    release = threading.Event()
    compile_ = CompiledGradient.compile

    def held(self, args, **options):
        release.wait(30)
        return compile_(self, args, **options)
    monkeypatch.setattr(CompiledGradient, "compile", held)
    yield release
    release.set()
