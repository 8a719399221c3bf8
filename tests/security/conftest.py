"""The browser fixtures of `tests/browser/conftest.py` for the security tests that drive
Chromium (`chromium`, `browser_page`, and the hook that lets a failing test leave a screenshot)."""

from tests.browser.conftest import (  # noqa: F401  (fixtures and a hook, found by name)
    browser_page,
    chromium,
    pytest_runtest_makereport,
)
