"""The security checks of one association, sans-I/O and fast: the same client
as the matrix (tests/independent_dlms.py, written from the Green Book) talks to
``Session.receive`` directly. Each test names the exact answer it expects, so
that weakening a check — the security policy, the counter rule, a tag or
system title check, the key a form selects, an HLS verdict — fails one
(bench/mutants.py runs these against mutants of dlmstw/security and
dlmstw/association)."""

from __future__ import annotations

import functools
import itertools
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import independent_dlms as dlms
from dlmstw.association.session import ServerProfile, Session
from dlmstw.config import parse_lab
from dlmstw.cosem.directory import MeterDirectory, ModelDirectory
from dlmstw.enums import Conformance
from dlmstw.plugins.registry import load_registry
from dlmstw.server.assembly import Meter
from dlmstw.server.service import SERVER_CONFORMANCE, SERVER_MAX_RECEIVE_PDU_SIZE
from test_security_matrix import (AK, ASSOCIATIONS, CLIENT_TITLE, CLOCK, DEDICATED, EK, MECHANISM_ID, PASSWORD,
                                  POLICY_SC, PROTECTIONS, REFUSED_INITIATE, REFUSED_SERVICE, SAP, SECRET, TIME_ZONE,
                                  credentials, section, stronger_or_equal)
from certificate_support import certificate, client_key
from dlmstw.security.certificates import CLIENT, DIGITAL_SIGNATURE, Classified
from dlmstw.association.security import CounterRule, Protection, Wrapping
from dlmstw.security import ciphering
from dlmstw.security.ciphering import SecurityError
from dlmstw.security.keys import wrap_key
from dlmstw.security.store import COUNTER_RESERVATION, MeterSecurity

NOW = 1_767_225_600.0
#: HLS in the plain context (no ciphering): client SAPs 0x70 and 0x71.
PLAIN_HLS = (f"[association:md5-plain]\nclient_sap = 112\nauthentication = hls-md5\nhls_secret = {SECRET.hex()}\n\n"
             f"[association:gmac-plain]\nclient_sap = 113\nauthentication = hls-gmac\n"
             f"authentication_key = {AK[0].hex()}\nblock_cipher_key = {EK[0].hex()}\n\n")
LAB = ("[meters:abt]\nload_profile_interval = 15\nload_profile_days = 1\n\n[association:public]\nclient_sap = 16\n\n"
       + PLAIN_HLS + "\n".join(section(*association) for association in ASSOCIATIONS))
GET = dlms.get_request(8, CLOCK, 2)
INVOCATION_COUNTER_ERROR = bytes.fromhex("D80106")
DECIPHERING_ERROR = bytes.fromhex("D80105")


@functools.cache
def meter() -> tuple[object, object, object]:
    """One meter of LAB (its security store shared by the tests: counters grow)."""
    config = next(parse_lab(LAB).meters())
    registry = load_registry()
    model = registry.object_sets["is15959-abt"]
    runtime = Meter(config, model, clock=lambda: NOW)
    directory = MeterDirectory(ModelDirectory([model], registry.classes, config.associations, registry.mechanisms,
                                              SERVER_CONFORMANCE, SERVER_MAX_RECEIVE_PDU_SIZE), runtime)
    return config, registry, (runtime, directory)


_counters = itertools.count(1, 1000)


class SessionClient(dlms.Client):
    """The independent client, with ``Session.receive`` for a connection."""

    def __post_init__(self) -> None:
        config, registry, (runtime, directory) = meter()
        associations = {a.client_sap: a for a in config.associations}
        self.session = Session(self.client_sap, 1, associations[self.client_sap], directory, registry,
                               ServerProfile(Conformance(SERVER_CONFORMANCE), SERVER_MAX_RECEIVE_PDU_SIZE,
                                             config.system_title), runtime.security)

    def transfer(self, apdu: bytes) -> bytes:
        outcome = self.session.receive(apdu)
        self.result = outcome.result
        answer = outcome.answer or b""
        self.wire.append(dlms.Exchange(apdu, answer))
        return answer

    def close(self) -> None:
        self.session.connection_lost()


def client(mechanism: str = "none", suite: int = 0, policy: str = "authenticated-encryption", *,
           dedicated: bool = False, general: bool = False) -> SessionClient:
    return SessionClient(0, SAP[(mechanism, suite, policy)], credentials(mechanism, suite, dedicated),
                         title=CLIENT_TITLE, general=general, dedicated=dedicated,
                         security_control=POLICY_SC[policy], counter=next(_counters))


def associated(mechanism: str = "none", suite: int = 0, policy: str = "authenticated-encryption",
               **options: bool) -> SessionClient:
    c = client(mechanism, suite, policy, **options)
    assert c.associate().result == 0
    if mechanism.startswith("hls"):
        answer, proof = c.authenticate()
        assert answer.result == 0 and proof is not None
    return c


# --------------------------------------------------------------------------- the security policy


@pytest.mark.parametrize("protection", list(PROTECTIONS))
@pytest.mark.parametrize("policy", list(POLICY_SC))
def test_initiate_request_against_the_policy(policy: str, protection: str) -> None:
    c = client("none", 0, policy)
    level = PROTECTIONS[protection]
    if level:
        aare = c.associate(initiate_sc=level)
    else:
        aare = dlms.parse_aare(c.transfer(dlms.aarq(dlms.CONTEXT_LN_CIPHERED, dlms.LOWEST, CLIENT_TITLE, None,
                                                    dlms.initiate_request(None))))
    if stronger_or_equal(level, POLICY_SC[policy]):
        assert (aare.result, aare.diagnostic) == (0, 0) and c.result == "success"
        assert dlms.protection_of(aare.user_information) == (dlms.GLO_INITIATE_RESPONSE, level)
    else:
        assert (aare.result, aare.source, aare.diagnostic, aare.user_information) == (1, 1, 1, REFUSED_INITIATE)
        assert c.result == "no-reason-given"
        assert c.transfer(GET) == REFUSED_SERVICE


@pytest.mark.parametrize("general", [False, True], ids=["glo", "general"])
@pytest.mark.parametrize("protection", list(PROTECTIONS))
@pytest.mark.parametrize("policy", list(POLICY_SC))
def test_request_against_the_policy(policy: str, protection: str, general: bool) -> None:
    c = associated("none", 0, policy, general=general)
    level = PROTECTIONS[protection]
    answer = c.transfer(c.wrap(GET, sc=level) if level else GET)
    if stronger_or_equal(level, POLICY_SC[policy]):
        assert dlms.protection_of(answer) == (dlms.GENERAL_GLO_CIPHERING if general else 0xCC, level)
        assert dlms.parse_response(c.unwrap(answer)[0]).result == 0
    else:
        assert answer == REFUSED_SERVICE
        assert c.result == "exception-response:service-not-allowed/operation-not-possible"
    assert c.request(GET).result == 0  # the association goes on


# --------------------------------------------------------------------------- the counter rule


@pytest.mark.parametrize("general", [False, True], ids=["glo", "general"])
def test_counter_rule_inside_an_association(general: bool) -> None:
    c = associated("none", 0, general=general)
    assert c.request(GET).result == 0
    used = c.counter - 1
    for counter in (used, used - 1):
        assert c.transfer(c.wrap(GET, counter=counter)) == INVOCATION_COUNTER_ERROR + (used + 1).to_bytes(4, "big")
        assert c.result == "invocation-counter-error"
    assert c.request(GET, counter=used + 1).result == 0
    assert c.transfer(c.wrap(GET, counter=used + 1)) == INVOCATION_COUNTER_ERROR + (used + 2).to_bytes(4, "big")
    assert c.request(GET, counter=used + 5).result == 0


def test_counter_rule_across_associations() -> None:
    first = associated("none", 0)
    first.request(GET)
    again = client("none", 0)
    again.counter = first.counter - 1
    aare = again.associate()
    assert (aare.result, aare.source, aare.diagnostic, aare.user_information) == (1, 1, 1, REFUSED_INITIATE)
    assert again.result == "invocation-counter-error"
    fresh = client("none", 0)
    fresh.counter = first.counter
    assert fresh.associate().result == 0


def test_meter_counter_only_grows() -> None:
    c = associated("none", 0)
    for _ in range(3):
        assert c.request(GET).result == 0  # unwrap checks the meter's counter grows
    assert [dlms.protection_of(e.answer)[1] for e in c.wire[1:]] == [0x30] * 3


# --------------------------------------------------------------------------- tags, titles and keys


@pytest.mark.parametrize("general", [False, True], ids=["ded", "general-ded"])
def test_dedicated_key_protects_both_ways(general: bool) -> None:
    c = associated("none", 1, dedicated=True, general=general)
    answer = c.transfer(c.wrap(GET))
    tag = dlms.GENERAL_DED_CIPHERING if general else 0xD4
    assert dlms.protection_of(answer) == (tag, 0x31)
    assert dlms.parse_response(c.unwrap(answer)[0]).result == 0
    # The global key where the dedicated one is due does not decipher, and the reverse.
    c.credentials.dedicated_key, c.credentials.ek = EK[1], DEDICATED[1]
    assert c.transfer(c.wrap(GET)) == DECIPHERING_ERROR
    assert c.transfer(c.wrap(GET, dedicated=False)) == DECIPHERING_ERROR


@pytest.mark.parametrize("general", [False, True], ids=["ded", "general-ded"])
def test_dedicated_form_without_a_dedicated_key_is_refused(general: bool) -> None:
    c = associated("none", 0, general=general)
    c.credentials.dedicated_key = DEDICATED[0]
    assert c.transfer(c.wrap(GET, dedicated=True)) == DECIPHERING_ERROR
    assert c.request(GET).result == 0


def test_global_form_is_answered_with_the_global_key() -> None:
    c = associated("none", 2, dedicated=True)
    answer = c.transfer(c.wrap(GET, dedicated=False))
    assert dlms.protection_of(answer) == (0xCC, 0x32)
    assert dlms.parse_response(c.unwrap(answer)[0]).result == 0


def test_general_ciphering_from_another_title_is_refused() -> None:
    c = associated("none", 0, general=True)
    c.title = bytes.fromhex("4943430000000002")
    assert c.transfer(c.wrap(GET)) == DECIPHERING_ERROR


def test_wrong_keys_do_not_decipher() -> None:
    c = associated("none", 0)
    c.credentials.ak = bytes(16)
    assert c.transfer(c.wrap(GET)) == DECIPHERING_ERROR
    c.credentials.ak, c.credentials.ek = AK[0], bytes(16)
    assert c.transfer(c.wrap(GET)) == DECIPHERING_ERROR


def test_wrong_suite_in_the_security_control_is_refused() -> None:
    c = associated("none", 1)
    c.credentials.suite = 0
    assert c.transfer(c.wrap(GET)) == DECIPHERING_ERROR


def test_initiate_under_wrong_keys_or_without_a_title_is_refused() -> None:
    c = client("none", 0)
    c.credentials.ek = bytes(16)
    aare = c.associate()
    assert (aare.result, aare.diagnostic, aare.user_information) == (1, 1, REFUSED_INITIATE)
    c = client("none", 0)
    initiate = c.wrap(dlms.initiate_request(None))
    aare = dlms.parse_aare(c.transfer(dlms.aarq(dlms.CONTEXT_LN_CIPHERED, dlms.LOWEST, None, None, initiate)))
    assert (aare.result, aare.diagnostic) == (1, 3)  # calling-AP-title-not-recognized


def test_set_and_action_ciphered() -> None:
    c = associated("lls", 2, "encryption", dedicated=True, general=True)
    assert c.request(dlms.set_request(8, CLOCK, 3, TIME_ZONE)) == dlms.Answer(dlms.SET_RESPONSE, 0, None)
    assert c.request(dlms.action_request(8, CLOCK, 1, b"\x0f\x00")) == dlms.Answer(dlms.ACTION_RESPONSE, 0, None)
    assert [dlms.protection_of(e.answer) for e in c.wire[1:]] == [(dlms.GENERAL_DED_CIPHERING, 0x22)] * 2


# --------------------------------------------------------------------------- HLS verdicts


HLS = ["hls-md5", "hls-sha1", "hls-gmac", "hls-sha256", "hls-ecdsa"]


@pytest.mark.parametrize("suite", [1, 2])
@pytest.mark.parametrize("mechanism", HLS)
def test_hls_proofs_check_both_ways(mechanism: str, suite: int) -> None:
    c = client(mechanism, suite)
    aare = c.associate()
    assert (aare.result, aare.diagnostic, len(aare.stoc)) == (0, 14, 32 if mechanism in ("hls-sha256",
                                                                                          "hls-ecdsa") else 16)
    assert c.request(GET) == dlms.Answer(dlms.EXCEPTION_RESPONSE, 0x0101, None)  # not yet
    answer, proof = c.authenticate()
    assert answer.result == 0
    meter_key = None
    if mechanism == "hls-ecdsa":
        _, _, (runtime, _) = meter()
        meter_key = runtime.security.signing_key(suite).public_key()
    assert dlms.check_f_ctos(c.credentials, proof, aare.stoc, c.ctos, c.title, c.server_title, meter_key)
    assert c.request(GET).result == 0


@pytest.mark.parametrize("mechanism", HLS)
def test_wrong_f_stoc_is_refused_and_the_association_stays_unusable(mechanism: str) -> None:
    c = client(mechanism, 1)
    assert c.associate().result == 0
    answer, proof = c.authenticate(spoil=True)
    assert (answer, proof) == (dlms.Answer(dlms.ACTION_RESPONSE, 3, None), None)
    assert c.result == "authentication-failure"
    assert c.request(GET) == dlms.Answer(dlms.EXCEPTION_RESPONSE, 0x0101, None)
    answer, proof = c.authenticate()  # a second try is not served
    assert (answer.tag, answer.result) == (dlms.EXCEPTION_RESPONSE, 0x0101)


def test_ecdsa_checks_with_the_clients_key_only() -> None:
    c = client("hls-ecdsa", 2)
    c.credentials.signing_key = client_key(1)  # a key of the other suite's curve
    assert c.associate().result == 0
    assert c.authenticate() == (dlms.Answer(dlms.ACTION_RESPONSE, 3, None), None)
    c = client("hls-ecdsa", 1)
    c.credentials.signing_key = ec.derive_private_key(12345, ec.SECP256R1())
    assert c.associate().result == 0
    assert c.authenticate() == (dlms.Answer(dlms.ACTION_RESPONSE, 3, None), None)


def test_hls_secret_mechanisms_use_the_secret() -> None:
    for mechanism in ("hls-md5", "hls-sha1", "hls-sha256"):
        c = client(mechanism, 0)
        c.credentials.secret = SECRET + b"!"
        assert c.associate().result == 0
        assert c.authenticate() == (dlms.Answer(dlms.ACTION_RESPONSE, 3, None), None)


@pytest.mark.parametrize("mechanism", ["lls", "hls-md5", "hls-gmac"])
def test_aarq_without_an_authentication_value_is_an_authentication_failure(mechanism: str) -> None:
    c = client(mechanism, 0)
    initiate = c.wrap(dlms.initiate_request(None))
    aarq = dlms.aarq(dlms.CONTEXT_LN_CIPHERED, MECHANISM_ID[mechanism], CLIENT_TITLE, None, initiate)
    aare = dlms.parse_aare(c.transfer(aarq))
    assert (aare.result, aare.source, aare.diagnostic) == (1, 1, 13)
    assert c.result == "authentication-failure"


# --------------------------------------------------------------------------- the security store


def test_store_counter_rule_and_its_journal() -> None:
    store = MeterSecurity("m")
    written: list[tuple[str, str | None, int]] = []
    store.journal = lambda *entry: written.append(entry)
    assert store.lowest_client_counter("a") == 0 and store.accept_client_counter("a", 0)
    assert store.accept_client_counter("a", 7) and store.lowest_client_counter("a") == 8
    assert not store.accept_client_counter("a", 7) and not store.accept_client_counter("a", 3)
    assert store.accept_client_counter("b", 1)  # per association
    assert written == [("m.security", "a", 0), ("m.security", "a", 7), ("m.security", "b", 1)]
    store.replay("a", 5)  # an older journal entry changes nothing
    assert store.lowest_client_counter("a") == 8
    store.replay("a", 20)
    assert store.lowest_client_counter("a") == 21


def test_store_own_counter_only_grows_and_is_reserved_ahead() -> None:
    store = MeterSecurity("m")
    written: list[tuple[str, str | None, int]] = []
    store.journal = lambda *entry: written.append(entry)
    counters = [store.next_counter() for _ in range(3)]
    assert counters == [0, 1, 2] and written == [("m.security", None, 1 + COUNTER_RESERVATION)]
    restarted = MeterSecurity("m")
    restarted.restore(store.state())
    assert restarted.next_counter() == 1 + COUNTER_RESERVATION
    restarted.replay(None, 5000)
    assert restarted.next_counter() == 5000


def test_store_takes_only_a_key_on_the_suites_curve() -> None:
    """HLS-ECDSA (Green Book 9.2.7.4): a client certificate whose key is on
    another curve than the association's suite does not check its f(StoC)."""
    config = next(parse_lab(LAB).meters()).associations
    suite_1 = next(a for a in config if a.name == "hls-ecdsa-1-authenticated-encryption")
    store = MeterSecurity("m")
    p384 = client_key(2)
    foreign = certificate(p384.public_key(), CLIENT_TITLE.hex().upper(), p384)
    store.certificates[suite_1.name] = [Classified(CLIENT, DIGITAL_SIGNATURE, CLIENT_TITLE, foreign)]
    chosen = store.client_public_key(suite_1, CLIENT_TITLE)
    assert chosen is not None and chosen.curve.name == "secp256r1"  # lab.ini's, not the certificate's
    own = certificate(client_key(1).public_key(), CLIENT_TITLE.hex().upper(), client_key(1))
    other = ec.generate_private_key(ec.SECP256R1())
    store.certificates[suite_1.name] = [Classified(CLIENT, DIGITAL_SIGNATURE, CLIENT_TITLE,
                                                   certificate(other.public_key(), CLIENT_TITLE.hex().upper(), other)),
                                        Classified(CLIENT, DIGITAL_SIGNATURE, CLIENT_TITLE, own)]
    assert store.client_public_key(suite_1, CLIENT_TITLE) == other.public_key()  # the imported one first
    assert store.client_public_key(suite_1, bytes(8)) == client_key(1).public_key()


def test_only_suites_with_ecdsa_are_asymmetric() -> None:
    """Green Book 9.2.3: suite 0 has no digital signature, so HLS-ECDSA is refused on it."""
    suites = load_registry().suites
    assert {suite: suites[suite].asymmetric for suite in (0, 1, 2)} == {0: False, 1: True, 2: True}


@pytest.mark.parametrize("length", [8, 20, 25])
def test_key_wrap_takes_only_whole_keys(length: int) -> None:
    """AES key wrap (RFC 3394, Green Book 9.2.3): the key is 16 bytes or more, a multiple of 8."""
    with pytest.raises(ValueError):
        wrap_key(bytes(16), bytes(length))



# --------------------------------------------------------------------------- more checks, each a mutant's


def plain_client(client_sap: int, mechanism: str = "none") -> SessionClient:
    return SessionClient(0, client_sap, credentials(mechanism, 0), context=dlms.CONTEXT_LN, title=CLIENT_TITLE,
                         counter=next(_counters))


@pytest.mark.parametrize(("client_sap", "mechanism"), [(112, "hls-md5"), (113, "hls-gmac")])
def test_hls_in_the_plain_context(client_sap: int, mechanism: str) -> None:
    c = plain_client(client_sap, mechanism)
    aare = c.associate()
    assert (aare.result, aare.diagnostic, c.aare.user_information[0]) == (0, 14, dlms.INITIATE_RESPONSE)
    assert c.request(GET) == dlms.Answer(dlms.EXCEPTION_RESPONSE, 0x0101, None)  # pending
    answer, proof = c.authenticate()
    assert answer.result == 0 and c.last_sc is None
    assert dlms.check_f_ctos(c.credentials, proof, aare.stoc, c.ctos, c.title, c.server_title)
    assert c.request(GET).result == 0


def test_a_replayed_counter_while_hls_is_pending() -> None:
    """Pass 3 under the counter of the AARQ: invocation-counter-error with the
    lowest counter accepted; pass 3 then goes through."""
    c = client("hls-gmac", 0)
    assert c.associate().result == 0
    used = c.counter - 1
    proof = dlms.f_stoc(c.credentials, c.aare.stoc, c.ctos, c.title, c.server_title, used + 1)
    reply = dlms.action_request(15, dlms.ASSOCIATION_LN, 1, dlms.octet_string(proof))
    assert c.transfer(c.wrap(reply, counter=used)) == INVOCATION_COUNTER_ERROR + (used + 1).to_bytes(4, "big")
    answer, _ = c.authenticate()
    assert answer.result == 0


def test_an_aarq_without_the_authentication_functional_unit_proposes_no_mechanism() -> None:
    """Green Book 9.4.2.2.2: the mechanism name counts only with the
    authentication functional unit in sender-acse-requirements."""
    c = client("lls", 0)
    initiate = c.wrap(dlms.initiate_request(None))
    aare = dlms.parse_aare(c.transfer(dlms.aarq(dlms.CONTEXT_LN_CIPHERED, dlms.LLS, CLIENT_TITLE, PASSWORD, initiate,
                                                authentication_unit=False)))
    assert (aare.result, aare.source, aare.diagnostic) == (1, 1, 12)
    assert c.result == "authentication-mechanism-name-required"


def test_a_read_only_association_may_not_write_or_call() -> None:
    c = plain_client(16)
    assert c.associate().result == 0
    assert c.request(GET).result == 0
    assert c.request(dlms.set_request(8, CLOCK, 3, TIME_ZONE)) == dlms.Answer(dlms.SET_RESPONSE, 3, None)
    assert c.request(dlms.action_request(8, CLOCK, 1, b"\x0f\x00")) == dlms.Answer(dlms.ACTION_RESPONSE, 3, None)


def test_an_empty_apdu_is_refused() -> None:
    c = client("none", 0)
    assert c.transfer(b"") == REFUSED_SERVICE
    assert c.associate().result == 0
    assert c.transfer(b"") == DECIPHERING_ERROR


def test_protection_without_a_key_or_a_title_refuses() -> None:
    """Protection (Green Book 9.2.7.2) refuses an APDU it has no authentication
    key or no sender system title for, with a SecurityError."""
    suite = load_registry().suites[0]
    apdu = dlms.tlv(0xC8, dlms.protect(0x30, 1, CLIENT_TITLE, EK[0], AK[0], GET))
    for authentication_key, title in ((None, CLIENT_TITLE), (AK[0], None)):
        protection = Protection(0x30, suite, EK[0], authentication_key, bytes(8), title, None, lambda: 0,
                                lambda counter: True)
        with pytest.raises(SecurityError):
            protection.unwrap(apdu)


def test_the_clients_protection_uses_its_dedicated_key_and_counter_rule() -> None:
    suite = load_registry().suites[0]
    protection = Protection.of_client(0x30, suite, EK[0], AK[0], CLIENT_TITLE, DEDICATED[0], iter([7, 8]))
    wrapped = protection.wrap(GET, Wrapping(0xD0, 0x30, True, False))
    assert wrapped[0] == 0xD0 and dlms.unprotect(CLIENT_TITLE, DEDICATED[0], AK[0], wrapped[2:]) == (0x30, 7, GET)
    rule = CounterRule()
    assert rule.accept(0) and not rule.accept(0) and rule.accept(1)


def test_a_journalled_counter_of_a_new_association_is_taken_back() -> None:
    store = MeterSecurity("m")
    store.replay("new", 0)
    assert store.lowest_client_counter("new") == 1 and not store.accept_client_counter("new", 0)


def test_protect_checks_each_key_length() -> None:
    for ek, ak in ((EK[0], bytes(15)), (bytes(15), AK[0]), (EK[0], AK[2])):
        with pytest.raises(ValueError):
            ciphering.protect(GET, security_control=0x30, system_title=CLIENT_TITLE, invocation_counter=1,
                              block_cipher_key=ek, authentication_key=ak)


def test_store_state_round_trip_keeps_counters_keys_and_titles() -> None:
    """What the meter saves in state_dir comes back after a restart: the
    counters accepted (else a replay would pass), changed keys (else the old
    ones would work again), client titles; every change marks the store changed."""
    store = MeterSecurity("m")
    assert store.accept_client_counter("a", 41)
    store.client_titles["a"] = CLIENT_TITLE
    assert not store.changed
    store.change_keys("a", {"block_cipher_key": EK[1]})
    assert store.changed
    store.changed = False
    store.signing_key(1)
    assert store.changed
    restarted = MeterSecurity("m")
    restarted.restore(json.loads(json.dumps(store.state())))
    assert not restarted.changed
    assert not restarted.accept_client_counter("a", 41) and restarted.lowest_client_counter("a") == 42
    assert restarted.keys == {"a": {"block_cipher_key": EK[1]}} and restarted.client_titles == {"a": CLIENT_TITLE}
    assert restarted.signing_key(1).private_numbers() == store.signing_key(1).private_numbers()
    for change in (lambda s: s.new_signing_key(1), lambda s: s.server_certificate(1, CLIENT_TITLE, NOW)):
        restarted.changed = False
        change(restarted)
        assert restarted.changed


def test_unprotect_checks_each_key_length() -> None:
    """A key of the wrong length for the suite is refused, either key (Green Book 9.2.3)."""
    protected = dlms.protect(0x30, 1, CLIENT_TITLE, EK[0], AK[0], GET)
    for ek, ak in ((EK[0], AK[0][:15]), (EK[0][:15], AK[0]), (EK[0], AK[2])):
        with pytest.raises(SecurityError):
            ciphering.unprotect(protected, system_title=CLIENT_TITLE, block_cipher_key=ek, authentication_key=ak)
