import os

import pytest

# The suites check the compiled code: a gradient's first calls would otherwise be interpreted
# while it compiles (test_tiered.py tests that)
os.environ["ZYGOPY_INTERPRET_WHILE_COMPILING"] = "0"

from zygopy.ir.passes import pipeline


@pytest.fixture(autouse=True, scope="session")
def check_each_pass():
    """Verify the IR after every simplification pass, in every test (session-scoped so that
    hypothesis tests may use it)."""
    old = pipeline.CHECK_EACH_PASS
    pipeline.CHECK_EACH_PASS = True
    yield
    pipeline.CHECK_EACH_PASS = old
