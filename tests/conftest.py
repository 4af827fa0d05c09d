"""Fixtures shared by the test modules.

``lab`` (session scope) runs one ``twistd -n dlmssim`` for the interoperability suites; it
starts only when a test asks for it. Every test that uses a running lab (a fixture named
``lab`` or ``*_lab``) is marked ``lab``: ``-m "not lab"`` selects the in-process tests
(bench/mutants.py does).
"""

import pytest

from interop_support import lab

__all__ = ["lab"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(name == "lab" or name.endswith("_lab") for name in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)
