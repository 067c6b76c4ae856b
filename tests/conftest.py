import pytest

from zygopy.ir.passes import pipeline


@pytest.fixture(autouse=True, scope="session")
def check_each_pass():
    """Verify the IR after every simplification pass, in every test (session-scoped so that
    hypothesis tests may use it)."""
    old = pipeline.CHECK_EACH_PASS
    pipeline.CHECK_EACH_PASS = True
    yield
    pipeline.CHECK_EACH_PASS = old
