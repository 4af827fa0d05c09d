"""Fixtures shared by the test modules.

``lab`` (session scope) runs one ``twistd -n dlmssim`` for the interoperability suites; it
starts only when a test asks for it.
"""

from interop_support import lab

__all__ = ["lab"]
