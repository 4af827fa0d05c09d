"""The security coverage matrix: one table that drives tests/test_security_matrix.py
and prints README.md's coverage table (``python tests/security_matrix.py``).

A cell is an authentication mechanism, a security suite, a security policy, the
key (global or dedicated) and the APDU form (glo-/ded-ciphering or
general-glo-/general-ded-ciphering); in each, one association runs GET, SET
and ACTION over TCP. Who drives it:

* gurux-dlms, unmodified, where it can;
* the independent implementation in tests/independent_dlms.py where gurux
  cannot: general ciphering (gurux uses it only when the meter offers
  general-protection, which the meter does not), and HLS-ECDSA on suite 2
  (gurux signs on P-256 only);
* none where the Green Book forbids the cell: HLS-ECDSA needs a suite with
  digital signatures (9.2.3: suite 0 has none).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

MECHANISMS = ("none", "lls", "hls-md5", "hls-sha1", "hls-gmac", "hls-sha256", "hls-ecdsa")
SUITES = (0, 1, 2)
POLICIES = ("authentication", "encryption", "authenticated-encryption")
KEYS = ("global", "dedicated")
FORMS = ("glo", "general")
SERVICES = ("GET", "SET", "ACTION")

GURUX = "gurux"
INDEPENDENT = "independent"
FORBIDDEN = "forbidden"
MARK = {GURUX: "G", INDEPENDENT: "I", FORBIDDEN: "—"}


@dataclass(frozen=True)
class Cell:
    mechanism: str
    suite: int
    policy: str
    key: str
    form: str

    @property
    def driver(self) -> str:
        if self.mechanism == "hls-ecdsa" and self.suite == 0:
            return FORBIDDEN
        if self.form == "general" or (self.mechanism == "hls-ecdsa" and self.suite == 2):
            return INDEPENDENT
        return GURUX

    @property
    def id(self) -> str:
        return f"{self.mechanism}-s{self.suite}-{self.policy}-{self.key}-{self.form}"


CELLS = tuple(Cell(*values) for values in itertools.product(MECHANISMS, SUITES, POLICIES, KEYS, FORMS))

_POLICY_SHORT = {"authentication": "A", "encryption": "E", "authenticated-encryption": "AE"}
_FORM_SHORT = {("global", "glo"): "glo", ("dedicated", "glo"): "ded", ("global", "general"): "g-glo",
               ("dedicated", "general"): "g-ded"}


def table() -> str:
    """README's coverage table: a row per mechanism and suite, a column per policy,
    key and APDU form (G gurux-dlms, I independent implementation, — forbidden)."""
    columns = list(itertools.product(POLICIES, FORMS, KEYS))
    header = "| mechanism | suite | " + " | ".join(
        f"{_POLICY_SHORT[p]} {_FORM_SHORT[(k, f)]}" for p, f, k in columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 2)]
    cells = {(c.mechanism, c.suite, c.policy, c.key, c.form): c for c in CELLS}
    for mechanism, suite in itertools.product(MECHANISMS, SUITES):
        marks = [MARK[cells[(mechanism, suite, p, k, f)].driver] for p, f, k in columns]
        lines.append(f"| {mechanism} | {suite} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(), end="")
