"""The plugin points (DESIGN.md "Plugin interfaces"): security suites and
authentication mechanisms are what ``getPlugins`` finds, lab.ini may name any
installed one (and only those), and a session protects its APDUs with the
security suite plugin of its association."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from test_ecdsa import Meter
from test_results import CIPHERED_LAB, CLIENT_TITLE, sealed
from twisted.plugin import IPlugin
from zope.interface import implementer

from dlmstw.codec import acse, services, xdlms
from dlmstw.codec.obis import CURRENT_ASSOCIATION
from dlmstw.codec.services import CosemAttributeDescriptor, GetRequestNormal
from dlmstw.config import parse_lab
from dlmstw.enums import Conformance
from dlmstw.errors import ConfigError
from dlmstw.interfaces import IAuthenticationMechanism, ISecuritySuite
from dlmstw.security.keys import SecuritySuite
from dlmstw.plugins.registry import check_lab, load_registry

REGISTRY = load_registry()


def test_security_suites_are_the_plugins_found() -> None:
    suites = REGISTRY.suites
    assert list(suites) == [0, 1, 2]
    assert all(ISecuritySuite.providedBy(suite) and suites[n].suite_id == n for n, suite in suites.items())
    assert [(s.key_length, s.asymmetric) for s in suites.values()] == [(16, False), (16, True), (32, True)]


def test_mechanisms_say_which_keys_they_need() -> None:
    needs = {name: (m.required_keys, m.asymmetric) for name, m in REGISTRY.mechanisms.items()}
    assert needs == {
        "none": ((), False), "lls": (("lls_password",), False), "hls-md5": (("hls_secret",), False),
        "hls-sha1": (("hls_secret",), False), "hls-sha256": (("hls_secret",), False),
        "hls-gmac": (("authentication_key", "block_cipher_key"), False), "hls-ecdsa": ((), True),
    }


def test_mechanisms_say_whether_the_system_titles_travel() -> None:
    """Green Book 9.2.7.4: f() of HLS-GMAC, -SHA256 and -ECDSA covers the system
    titles, so the AARQ and AARE carry them even in the plain context."""
    titled = {name for name, m in REGISTRY.mechanisms.items() if m.titled}
    assert titled == {"hls-gmac", "hls-sha256", "hls-ecdsa"}


@implementer(IPlugin, IAuthenticationMechanism)
class PinMechanism:
    """A third party's mechanism: a PIN in the AARQ, as LLS carries a password."""

    mechanism_id = 1
    name = "acme-pin"
    hls = False
    required_keys = ("lls_password",)
    asymmetric = False
    titled = False

    def check_lls(self, configured_secret: bytes | None, calling_authentication_value: bytes | None) -> bool:
        return configured_secret == calling_authentication_value


PIN_LAB = "[meters:abt]\n[association:x]\nclient_sap = 1\nauthentication = acme-pin\n"


def test_a_lab_names_any_installed_mechanism() -> None:
    lab = parse_lab(PIN_LAB)
    assert lab.associations[0].authentication == "acme-pin"
    with pytest.raises(ConfigError) as refused:
        check_lab(REGISTRY, lab, "lab.ini")
    assert (refused.value.key, refused.value.problem) == (
        "authentication", "'acme-pin' is not an installed authentication mechanism "
        "(installed: hls-ecdsa, hls-gmac, hls-md5, hls-sha1, hls-sha256, lls, none)")
    installed = replace(REGISTRY, mechanisms={**REGISTRY.mechanisms, "acme-pin": PinMechanism()})
    with pytest.raises(ConfigError) as missing:
        check_lab(installed, lab, "lab.ini")
    assert str(missing.value) == "lab.ini [association:x] lls_password: required when authentication = acme-pin"
    check_lab(installed, parse_lab(PIN_LAB + "lls_password = 1234\n"), "lab.ini")


def test_a_lab_names_any_installed_security_suite() -> None:
    key = "00" * 32
    lab = parse_lab(f"[meters:abt]\n[association:x]\nclient_sap = 1\nsecurity_suite = 7\nmaster_key = {key}\n")
    with pytest.raises(ConfigError, match=r"no security suite 7 is installed \(installed: 0, 1, 2\)"):
        check_lab(REGISTRY, lab, "lab.ini")
    third_party = SecuritySuite(2)
    third_party.suite_id = 7
    check_lab(replace(REGISTRY, suites={**REGISTRY.suites, 7: third_party}), lab, "lab.ini")
    with pytest.raises(ConfigError) as short:
        check_lab(replace(REGISTRY, suites={**REGISTRY.suites, 7: SecuritySuite(0)}), lab, "lab.ini")
    assert (short.value.key, short.value.problem) == (
        "master_key", "must be 16 bytes (32 hex digits) for security_suite 7, got 32")


@dataclass
class WatchedCipher:
    """A suite plugin's ciphering that counts what a session asks of it."""

    cipher: Any
    calls: list[str]

    def protect(self, plain: bytes, *parameters: Any) -> bytes:
        self.calls.append("protect")
        return bytes(self.cipher.protect(plain, *parameters))

    def unprotect(self, protected: bytes, system_title: bytes) -> tuple[int, int, bytes]:
        self.calls.append("unprotect")
        return tuple(self.cipher.unprotect(protected, system_title))  # type: ignore[return-value]


@dataclass
class WatchedSuite:
    """A security suite plugin whose ciphering counts what a session asks of it."""

    suite: Any
    calls: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.suite, name)

    def cipher(self, block_cipher_key: bytes, authentication_key: bytes) -> WatchedCipher:
        return WatchedCipher(self.suite.cipher(block_cipher_key, authentication_key), self.calls)


def test_a_session_protects_with_its_associations_suite_plugin() -> None:
    session = Meter(CIPHERED_LAB).session(48)
    watched = WatchedSuite(REGISTRY.suites[0])
    session.plugins = replace(REGISTRY, suites={**REGISTRY.suites, 0: watched})
    initiate = xdlms.encode_initiate_request(xdlms.InitiateRequest(None, True, None, 6, Conformance(0x00501F), 1024))
    session.receive(acse.encode_aarq(acse.AARQ(application_context_name=3, calling_ap_title=CLIENT_TITLE,
                                                    user_information=sealed(initiate, 1)))).answer
    assert session.result == "success"
    assert watched.calls == ["unprotect", "protect"]
    get = services.encode_request(GetRequestNormal(0xC1, CosemAttributeDescriptor(15, CURRENT_ASSOCIATION, 1), None))
    assert session.receive(sealed(get, 2)).result == "success"
    assert watched.calls == ["unprotect", "protect"] * 2
