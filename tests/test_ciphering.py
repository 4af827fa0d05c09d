"""Security header, AES-GCM protection and ciphered APDU framing (dlmstw.security.ciphering).

Vectors: tests/vectors/security.json ``suite0_gcm`` (Green Book example keys, system
title 4D4D4D0000BC614E, IC 01234567) and tests/vectors/public-vectors.md section 3.1
(sources named there: OpenMUC jDLMS CipheringTest.java, gvtret/gosem cipher_test.go,
aarq_test.go, aare_test.go, Connexo SecurityContextTest.java, u9n/dlms-cosem tests).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from dlmstw.codec import acse
from dlmstw.enums import ApduTag
from dlmstw.errors import DecodeError
from dlmstw.security.ciphering import (
    DEDICATED_CIPHERED_TAG,
    DEDICATED_TAGS,
    GLOBAL_CIPHERED_TAG,
    PLAIN_TAG,
    SecurityControl,
    SecurityError,
    cipher,
    decode_ciphered_apdu,
    decode_general_ciphering,
    encode_ciphered_apdu,
    encode_general_ciphering,
    parse_security_control,
    protect,
    security_control,
    unprotect,
)

VECTORS = Path(__file__).parent / "vectors"
SECURITY: dict[str, Any] = json.loads((VECTORS / "security.json").read_text())
GCM = SECURITY["suite0_gcm"]
h = bytes.fromhex

EK = h(GCM["encryption_key"])
AK = h(GCM["authentication_key"])
ST = h(GCM["system_title"])
IC = int(GCM["invocation_counter"], 16)
PLAIN = h(GCM["plain_apdu"])
KEYS = {"block_cipher_key": EK, "authentication_key": AK}

# public-vectors.md 3.1, table "SC / full glo-get-request APDU"
GLO_GET_REQUEST = {
    0x10: "C81E1001234567C0010000080000010000FF020006725D910F9221D263877516",
    0x20: "C8122001234567411312FF935A47566827C467BC",
    0x30: "C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B",
}
# public-vectors.md 3.1, glo-initiate-request with a dedicated key ([G] cipher_test.go, [J], [U];
# 0x20 and 0x10 derived there with the same keys)
INITIATE_REQUEST = h("01011000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0")
GLO_INITIATE_REQUEST = {
    0x30: "21303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39EE6FDB8E356855",
    0x20: "21242001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE68",
    0x10: "2130100123456701011000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0CE0F5B426AA53E1FFB736C1E",
}
# public-vectors.md 3.1, second set: system title "KAM..." ([C] SecurityContextTest.java)
KAM_SYSTEM_TITLE = h("4B414D1234567890")
KAM_GET_REQUEST = {
    0x10: "C81E1001234567C0010000080000010000FF020003C51F733571866E675BF115",
    0x20: "C8122001234567D0BC0DE872E76D3F64CE312AB1",
    0x30: "C81E3001234567D0BC0DE872E76D3F64CE312AB1475C7DC48AB69286B4E42664",
}
# public-vectors.md 3.1, real L+G meter ([G] pkg/dlms/aarq_test.go, aare_test.go, dlmsclient/client_test.go)
LG_KEY = h("00112233445566778899AABBCCDDEEFF")
LG_AARQ = h(
    "6066A109060760857405080103A60A040843495200000000018A0207808B0760857405080201AC0A80084A7553363642435A"
    "BE340432213030000001078E6341442275404C816C6BED3E33AE809EC51E1D0E428BE8F5F643E26C3DD89FD2E3F2220097124F58E0F4")
LG_AARQ_PLAIN = h("010110E803739DBE338C3A790D8D1B12C63FE20000065F1F040000181F0200")
LG_AARQ_IC59_USER_INFORMATION = h(
    "2130300000005992D807DBCF8533E9AD675AE0948241FB8E6CF9AFA7006BAA134A473C9151B3362F56DC12F89E85DA97E176")
LG_AARE = h(
    "6148A109060760857405080103A203020100A305A103020100A40A04084C475A2022604828"
    "BE230421281F300000003149963E23D6DA824A369644B66A9A17C60C3CA3F63E58608FA192")
LG_AARE_PLAIN = h("0800065F1F040000181F00FA0007")
LG_AARE_IC5A_USER_INFORMATION = h("281F300000005AE916783AF33B5317AD0E453A799A65F26AE97660CF8B14FEB7B0")


def _protect(plain: bytes, sc: int, system_title: bytes = ST, counter: int = IC) -> bytes:
    return protect(plain, security_control=sc, system_title=system_title, invocation_counter=counter, **KEYS)


def _unprotect(protected: bytes, system_title: bytes = ST) -> tuple[int, int, bytes]:
    return unprotect(protected, system_title=system_title, **KEYS)


# ---------------------------------------------------------------------------
# Security control byte (Green Book 9.2.7.2.3)


@pytest.mark.parametrize(("args", "expected"), [
    ((0, True, False), 0x10),
    ((0, False, True), 0x20),
    ((0, True, True), 0x30),
    ((1, True, True), 0x31),
    ((2, False, True, True), 0x62),
    ((15, False, False), 0x0F),
])
def test_security_control_byte(args: tuple[Any, ...], expected: int) -> None:
    assert security_control(*args) == expected


def test_security_control_refuses_suite_beyond_four_bits() -> None:
    with pytest.raises(ValueError, match="4 bits"):
        security_control(16, True, True)


def test_parse_security_control_fields() -> None:
    assert parse_security_control(0x30) == SecurityControl(0, True, True, False, False)
    assert parse_security_control(0x52) == SecurityControl(2, True, False, True, False)
    assert parse_security_control(0xA1) == SecurityControl(1, False, True, False, True)
    assert parse_security_control(0x00) == SecurityControl(0, False, False, False, False)


@given(st.integers(0, 15), st.booleans(), st.booleans(), st.booleans())
def test_security_control_round_trip(suite: int, authentication: bool, encryption: bool, broadcast: bool) -> None:
    parsed = parse_security_control(security_control(suite, authentication, encryption, broadcast))
    assert parsed == SecurityControl(suite, authentication, encryption, broadcast, False)


@pytest.mark.parametrize("value", [-1, 256])
def test_parse_security_control_refuses_non_bytes(value: int) -> None:
    with pytest.raises(ValueError):
        parse_security_control(value)


# ---------------------------------------------------------------------------
# Green Book GET-Request vectors in the three modes, both directions


def test_vector_parameters_match_the_iv() -> None:
    assert ST + IC.to_bytes(4, "big") == h(GCM["iv"])


@pytest.mark.parametrize("sc", [0x10, 0x20, 0x30])
def test_glo_get_request_vectors_protect(sc: int) -> None:
    apdu = encode_ciphered_apdu(ApduTag.GLO_GET_REQUEST, _protect(PLAIN, sc))
    assert apdu == h(GLO_GET_REQUEST[sc])


@pytest.mark.parametrize("sc", [0x10, 0x20, 0x30])
def test_glo_get_request_vectors_unprotect(sc: int) -> None:
    tag, protected = decode_ciphered_apdu(h(GLO_GET_REQUEST[sc]))
    assert tag == ApduTag.GLO_GET_REQUEST
    assert PLAIN_TAG[tag] == ApduTag.GET_REQUEST
    assert _unprotect(protected) == (sc, 0x01234567, PLAIN)


def test_json_fields_agree_with_the_full_apdus() -> None:
    assert _protect(PLAIN, 0x30) == h("3001234567" + GCM["authenticated_encryption"]["ciphertext"]
                                      + GCM["authenticated_encryption"]["tag"])
    assert encode_ciphered_apdu(0xC8, _protect(PLAIN, 0x30)) == h(GCM["authenticated_encryption"]["glo_get_request"])
    assert _protect(PLAIN, 0x20) == h("2001234567" + GCM["encryption_only"]["ciphertext"])
    assert _protect(PLAIN, 0x10) == h("1001234567") + PLAIN + h(GCM["authentication_only"]["tag"])


def test_authentication_tag_is_the_tag_of_authentication_only() -> None:
    tag = cipher(0, EK, AK).authentication_tag(0x10, ST, IC, PLAIN)
    assert tag == h(GCM["authentication_only"]["tag"])


@pytest.mark.parametrize("sc", [0x10, 0x20, 0x30])
def test_glo_initiate_request_vectors(sc: int) -> None:
    apdu = encode_ciphered_apdu(ApduTag.GLO_INITIATE_REQUEST, _protect(INITIATE_REQUEST, sc))
    assert apdu == h(GLO_INITIATE_REQUEST[sc])
    tag, protected = decode_ciphered_apdu(apdu)
    assert tag == ApduTag.GLO_INITIATE_REQUEST
    assert _unprotect(protected) == (sc, IC, INITIATE_REQUEST)


@pytest.mark.parametrize("sc", [0x10, 0x20, 0x30])
def test_second_system_title_vectors(sc: int) -> None:
    assert encode_ciphered_apdu(0xC8, _protect(PLAIN, sc, KAM_SYSTEM_TITLE)) == h(KAM_GET_REQUEST[sc])
    _, protected = decode_ciphered_apdu(h(KAM_GET_REQUEST[sc]))
    assert _unprotect(protected, KAM_SYSTEM_TITLE) == (sc, IC, PLAIN)


def test_the_system_title_is_part_of_the_iv() -> None:
    _, protected = decode_ciphered_apdu(h(KAM_GET_REQUEST[0x30]))
    with pytest.raises(SecurityError, match="tag mismatch"):
        _unprotect(protected, ST)


# ---------------------------------------------------------------------------
# The real L+G AARQ/AARE: ciphered user-information decrypts and authenticates


def _lg(protected_apdu: bytes, system_title: bytes) -> tuple[int, int, int, bytes]:
    tag, protected = decode_ciphered_apdu(protected_apdu)
    sc, counter, plain = unprotect(protected, system_title=system_title, block_cipher_key=LG_KEY,
                                   authentication_key=LG_KEY)
    return tag, sc, counter, plain


def test_lg_aarq_user_information() -> None:
    aarq = acse.decode_aarq(LG_AARQ)
    assert aarq.calling_ap_title == h("4349520000000001")
    assert aarq.user_information is not None
    assert _lg(aarq.user_information, aarq.calling_ap_title) == (0x21, 0x30, 0x107, LG_AARQ_PLAIN)
    again = protect(LG_AARQ_PLAIN, security_control=0x30, system_title=aarq.calling_ap_title,
                    invocation_counter=0x107, block_cipher_key=LG_KEY, authentication_key=LG_KEY)
    assert encode_ciphered_apdu(0x21, again) == aarq.user_information


def test_lg_aarq_with_another_counter_and_dedicated_key() -> None:
    tag, sc, counter, plain = _lg(LG_AARQ_IC59_USER_INFORMATION, h("4349520000000001"))
    assert (tag, sc, counter) == (0x21, 0x30, 0x59)
    assert plain[:3] == h("010110")
    assert plain[3:5] == h("5E16") and plain[18] == 0x94  # dedicated key 5E16...94
    assert plain[19:] == LG_AARQ_PLAIN[19:]


def test_lg_aare_user_information() -> None:
    aare = acse.decode_aare(LG_AARE)
    assert aare.responding_ap_title == h("4C475A2022604828")
    assert aare.user_information is not None
    assert _lg(aare.user_information, aare.responding_ap_title) == (0x28, 0x30, 0x31, LG_AARE_PLAIN)
    assert _lg(LG_AARE_IC5A_USER_INFORMATION, aare.responding_ap_title) == (0x28, 0x30, 0x5A, LG_AARE_PLAIN)


def test_lg_aare_refused_with_the_green_book_keys() -> None:
    aare = acse.decode_aare(LG_AARE)
    assert aare.user_information is not None
    _, protected = decode_ciphered_apdu(aare.user_information)
    with pytest.raises(SecurityError):
        unprotect(protected, system_title=h("4C475A2022604828"), **KEYS)


# ---------------------------------------------------------------------------
# Tampering and truncation: SecurityError and nothing else


@pytest.mark.parametrize("sc", [0x10, 0x30])
def test_every_flipped_byte_is_refused_when_authenticated(sc: int) -> None:
    _, protected = decode_ciphered_apdu(h(GLO_GET_REQUEST[sc]))
    for i in range(len(protected)):
        for bit in (0x01, 0x80):
            tampered = bytearray(protected)
            tampered[i] ^= bit
            with pytest.raises(SecurityError):
                _unprotect(bytes(tampered))


def test_flipped_tag_byte_reports_the_tag_offset() -> None:
    _, protected = decode_ciphered_apdu(h(GLO_GET_REQUEST[0x30]))
    tampered = protected[:-1] + bytes((protected[-1] ^ 0xFF,))
    with pytest.raises(SecurityError) as excinfo:
        _unprotect(tampered)
    assert excinfo.value.reason == "authentication tag mismatch"
    assert excinfo.value.offset == len(protected) - 12


def test_encryption_only_has_no_integrity() -> None:
    _, protected = decode_ciphered_apdu(h(GLO_GET_REQUEST[0x20]))
    tampered = bytearray(protected)
    tampered[5] ^= 0x01
    assert _unprotect(bytes(tampered)) == (0x20, IC, bytes((PLAIN[0] ^ 0x01,)) + PLAIN[1:])


@pytest.mark.parametrize("sc", [0x10, 0x30])
def test_every_truncation_is_refused_when_authenticated(sc: int) -> None:
    _, protected = decode_ciphered_apdu(h(GLO_GET_REQUEST[sc]))
    for end in range(len(protected)):
        with pytest.raises(SecurityError):
            _unprotect(protected[:end])


def test_truncated_encryption_only() -> None:
    _, protected = decode_ciphered_apdu(h(GLO_GET_REQUEST[0x20]))
    for end in range(5):
        with pytest.raises(SecurityError, match="security header"):
            _unprotect(protected[:end])
    for end in range(5, len(protected) + 1):
        assert _unprotect(protected[:end]) == (0x20, IC, PLAIN[:end - 5])


@pytest.mark.parametrize("sc", [0x10, 0x30])
def test_too_short_for_a_tag(sc: int) -> None:
    with pytest.raises(SecurityError, match="authentication tag expected") as excinfo:
        _unprotect(bytes((sc,)) + bytes(4) + bytes(11))
    assert excinfo.value.offset == 16


@pytest.mark.parametrize(("sc", "reason"), [
    (0xB0, "compression"),
    (0x90, "compression"),
    (0x33, "unknown security suite 3"),
    (0x3F, "unknown security suite 15"),
    (0x00, "no protection"),
    (0x40, "no protection"),
    (0x32, "needs 32-byte keys"),
])
def test_refused_security_control(sc: int, reason: str) -> None:
    _, protected = decode_ciphered_apdu(h(GLO_GET_REQUEST[0x30]))
    with pytest.raises(SecurityError, match=reason) as excinfo:
        _unprotect(bytes((sc,)) + protected[1:])
    assert excinfo.value.offset == 0


@pytest.mark.parametrize("title", [b"", ST[:7], ST + b"\x00"])
def test_unprotect_refuses_a_system_title_of_wrong_length(title: bytes) -> None:
    _, protected = decode_ciphered_apdu(h(GLO_GET_REQUEST[0x30]))
    with pytest.raises(SecurityError, match="system title"):
        _unprotect(protected, title)


def test_security_error_is_a_decode_error() -> None:
    assert issubclass(SecurityError, DecodeError)


@given(st.binary(max_size=64))
def test_unprotect_raises_only_security_error(data: bytes) -> None:
    try:
        _unprotect(data)
    except SecurityError:
        pass


# ---------------------------------------------------------------------------
# Sender-side checks (ValueError: configuration, not peer input)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"security_control": 0x00}, "no protection"),
    ({"security_control": 0x40}, "no protection"),
    ({"security_control": 0xB0}, "compression"),
    ({"security_control": 0x33}, "unknown security suite"),
    ({"security_control": 0x132}, "not a byte"),
    ({"security_control": 0x32}, "needs 32-byte keys"),
    ({"system_title": ST[:7]}, "system title"),
    ({"invocation_counter": -1}, "4 bytes"),
    ({"invocation_counter": 1 << 32}, "4 bytes"),
    ({"block_cipher_key": EK[:15]}, "16-byte keys"),
    ({"authentication_key": AK + b"\x00"}, "16-byte keys"),
])
def test_protect_refuses(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"security_control": 0x30, "system_title": ST, "invocation_counter": IC, **KEYS}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        protect(PLAIN, **args)


def test_largest_invocation_counter() -> None:
    protected = _protect(PLAIN, 0x30, counter=0xFFFFFFFF)
    assert protected[:5] == h("30FFFFFFFF")
    assert _unprotect(protected) == (0x30, 0xFFFFFFFF, PLAIN)


# ---------------------------------------------------------------------------
# Suite 2 (AES-GCM-256) and broadcast keys; cross-check with the Cipher API


def _reference_open(protected: bytes, system_title: bytes, ek: bytes, ak: bytes) -> bytes:
    """Independent of the module: cryptography's GCM decryptor with a 12-byte tag."""
    sc, iv = protected[0], system_title + protected[1:5]
    body = protected[5:-12] if sc & 0x10 else protected[5:]
    if sc & 0x30 == 0x30:
        decryptor = Cipher(algorithms.AES(ek), modes.GCM(iv, protected[-12:], min_tag_length=12)).decryptor()
        decryptor.authenticate_additional_data(bytes((sc,)) + ak)
        return decryptor.update(body) + decryptor.finalize()
    if sc & 0x20:
        ctr = Cipher(algorithms.AES(ek), modes.CTR(iv + b"\x00\x00\x00\x02")).decryptor()
        return ctr.update(body) + ctr.finalize()
    decryptor = Cipher(algorithms.AES(ek), modes.GCM(iv, protected[-12:], min_tag_length=12)).decryptor()
    decryptor.authenticate_additional_data(bytes((sc,)) + ak + body)
    decryptor.finalize()
    return body


def test_suite_2_with_32_byte_keys() -> None:
    ek, ak = bytes(range(32)), bytes(range(32, 64))
    protected = protect(PLAIN, security_control=0x32, system_title=ST, invocation_counter=IC,
                        block_cipher_key=ek, authentication_key=ak)
    assert len(protected) == 5 + len(PLAIN) + 12
    assert unprotect(protected, system_title=ST, block_cipher_key=ek, authentication_key=ak) == (0x32, IC, PLAIN)
    assert _reference_open(protected, ST, ek, ak) == PLAIN
    with pytest.raises(SecurityError, match="needs 16-byte keys"):
        unprotect(bytes((0x30,)) + protected[1:], system_title=ST, block_cipher_key=ek, authentication_key=ak)


@pytest.mark.parametrize("length", [0, 8, 15, 17, 24, 31, 33, 64])
def test_other_key_lengths_are_refused(length: int) -> None:
    key = bytes(length)
    for sc in (0x30, 0x32):
        with pytest.raises(ValueError, match="byte keys"):
            protect(PLAIN, security_control=sc, system_title=ST, invocation_counter=1,
                    block_cipher_key=key, authentication_key=key)
        with pytest.raises(SecurityError, match="byte keys"):
            unprotect(bytes((sc,)) + bytes(20), system_title=ST, block_cipher_key=key, authentication_key=key)


_SUITE_KEYS = st.sampled_from([0, 1, 2]).flatmap(
    lambda suite: st.tuples(st.just(suite), st.binary(min_size=16 if suite < 2 else 32, max_size=16 if suite < 2 else 32),
                            st.binary(min_size=16 if suite < 2 else 32, max_size=16 if suite < 2 else 32)))


@given(keys=_SUITE_KEYS, system_title=st.binary(min_size=8, max_size=8), counter=st.integers(0, 0xFFFFFFFF),
       mode=st.sampled_from([0x10, 0x20, 0x30]), broadcast=st.booleans(), plain=st.binary(max_size=300))
def test_round_trip(keys: tuple[int, bytes, bytes], system_title: bytes, counter: int, mode: int, broadcast: bool,
                    plain: bytes) -> None:
    suite, ek, ak = keys
    sc = mode | suite | (0x40 if broadcast else 0)
    protected = protect(plain, security_control=sc, system_title=system_title, invocation_counter=counter,
                        block_cipher_key=ek, authentication_key=ak)
    assert protected[:5] == bytes((sc,)) + counter.to_bytes(4, "big")
    assert len(protected) == 5 + len(plain) + (12 if mode & 0x10 else 0)
    if mode == 0x10:
        assert protected[5:5 + len(plain)] == plain
    assert unprotect(protected, system_title=system_title, block_cipher_key=ek,
                     authentication_key=ak) == (sc, counter, plain)
    assert _reference_open(protected, system_title, ek, ak) == plain


# ---------------------------------------------------------------------------
# Ciphered APDU framing (Green Book 9.5)


def test_tag_maps() -> None:
    assert dict(GLOBAL_CIPHERED_TAG) == {
        0x01: 0x21, 0x08: 0x28, 0x0E: 0x2E, 0xC0: 0xC8, 0xC1: 0xC9, 0xC2: 0xCA, 0xC3: 0xCB,
        0xC4: 0xCC, 0xC5: 0xCD, 0xC7: 0xCF}
    assert dict(DEDICATED_CIPHERED_TAG) == {
        0x01: 0x41, 0x08: 0x48, 0x0E: 0x4E, 0xC0: 0xD0, 0xC1: 0xD1, 0xC2: 0xD2, 0xC3: 0xD3,
        0xC4: 0xD4, 0xC5: 0xD5, 0xC7: 0xD7}
    for table in (GLOBAL_CIPHERED_TAG, DEDICATED_CIPHERED_TAG):
        for plain, ciphered in table.items():
            assert PLAIN_TAG[ciphered] == plain
    assert len(PLAIN_TAG) == 20
    assert DEDICATED_TAGS == frozenset(DEDICATED_CIPHERED_TAG.values())
    assert ApduTag.EXCEPTION_RESPONSE not in GLOBAL_CIPHERED_TAG
    assert ApduTag.EXCEPTION_RESPONSE not in PLAIN_TAG


def test_tag_maps_are_read_only() -> None:
    with pytest.raises(TypeError):
        GLOBAL_CIPHERED_TAG[0xD8] = 0xD8  # type: ignore[index]


@pytest.mark.parametrize(("size", "head"), [(0, "D400"), (127, "D47F"), (128, "D48180"), (255, "D481FF"),
                                            (256, "D4820100"), (70000, "D483011170")])
def test_ciphered_apdu_lengths(size: int, head: str) -> None:
    content = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    apdu = encode_ciphered_apdu(0xD4, content)
    assert apdu == h(head) + content
    assert decode_ciphered_apdu(apdu) == (0xD4, content)


@pytest.mark.parametrize("tag", [0xC0, 0xD8, 0xDB, 0x60, 0x00, 0xFF])
def test_encode_ciphered_apdu_refuses_other_tags(tag: int) -> None:
    with pytest.raises(ValueError, match="not a glo- or ded-ciphered"):
        encode_ciphered_apdu(tag, b"\x30")


@pytest.mark.parametrize("sc", [0x10, 0x20, 0x30])
def test_decode_ciphered_apdu_truncated_at_every_byte(sc: int) -> None:
    apdu = h(GLO_GET_REQUEST[sc])
    for end in range(len(apdu)):
        with pytest.raises(DecodeError):
            decode_ciphered_apdu(apdu[:end])


def test_decode_ciphered_apdu_accepts_a_long_form_length() -> None:
    assert decode_ciphered_apdu(h("C881023001")) == (0xC8, h("3001"))


def test_decode_ciphered_apdu_errors() -> None:
    apdu = h(GLO_GET_REQUEST[0x30])
    with pytest.raises(DecodeError, match="tag expected"):
        decode_ciphered_apdu(b"")
    with pytest.raises(DecodeError, match="0xc0 is not") as excinfo:
        decode_ciphered_apdu(h("C0010000080000010000FF0200"))
    assert excinfo.value.offset == 0
    with pytest.raises(DecodeError, match="0xd8 is not"):
        decode_ciphered_apdu(h("D80101"))
    with pytest.raises(DecodeError, match="length 30 but 31 bytes follow") as excinfo:
        decode_ciphered_apdu(apdu + b"\x00")
    assert excinfo.value.offset == 1
    with pytest.raises(DecodeError, match="length 31 but 30"):
        decode_ciphered_apdu(apdu[:1] + b"\x1f" + apdu[2:])
    with pytest.raises(DecodeError, match="length 29 but 30"):
        decode_ciphered_apdu(apdu[:1] + b"\x1d" + apdu[2:])
    with pytest.raises(DecodeError, match="indefinite"):
        decode_ciphered_apdu(h("C880"))
    with pytest.raises(DecodeError, match="truncated length"):
        decode_ciphered_apdu(h("C88201"))


@given(st.binary(max_size=40))
def test_decode_ciphered_apdu_raises_only_decode_error(data: bytes) -> None:
    try:
        tag, content = decode_ciphered_apdu(data)
    except DecodeError:
        return
    assert data[0] == tag and data.endswith(content)
    assert decode_ciphered_apdu(encode_ciphered_apdu(tag, content)) == (tag, content)


# ---------------------------------------------------------------------------
# general-glo-ciphering and general-ded-ciphering (Green Book 9.5)

# Assembled from the Green Book example (3.1): tag DB, system-title 08 4D4D4D0000BC614E,
# then the SC 0x30 protected GET-Request with its length 1E.
GENERAL_GLO = h("DB084D4D4D0000BC614E1E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B")


def test_general_glo_ciphering_vector() -> None:
    protected = _protect(PLAIN, 0x30)
    assert encode_general_ciphering(ApduTag.GENERAL_GLO_CIPHERING, ST, protected) == GENERAL_GLO
    tag, title, content = decode_general_ciphering(GENERAL_GLO)
    assert (tag, title, content) == (0xDB, ST, protected)
    assert _unprotect(content, title) == (0x30, IC, PLAIN)


def test_general_ded_ciphering_round_trip_with_long_content() -> None:
    content = bytes(300)
    apdu = encode_general_ciphering(ApduTag.GENERAL_DED_CIPHERING, KAM_SYSTEM_TITLE, content)
    assert apdu[:13] == h("DC084B414D1234567890") + h("82012C")
    assert decode_general_ciphering(apdu) == (0xDC, KAM_SYSTEM_TITLE, content)


def test_general_ciphering_with_empty_system_title() -> None:
    apdu = encode_general_ciphering(0xDB, b"", b"\x01\x02")
    assert apdu == h("DB00020102")
    assert decode_general_ciphering(apdu) == (0xDB, b"", b"\x01\x02")


@pytest.mark.parametrize("tag", [0xC8, 0xDD, 0xDF, 0x21])
def test_encode_general_ciphering_refuses_other_tags(tag: int) -> None:
    with pytest.raises(ValueError, match="general-glo-ciphering"):
        encode_general_ciphering(tag, ST, b"\x30")


def test_decode_general_ciphering_truncated_at_every_byte() -> None:
    for end in range(len(GENERAL_GLO)):
        with pytest.raises(DecodeError):
            decode_general_ciphering(GENERAL_GLO[:end])


def test_decode_general_ciphering_errors() -> None:
    with pytest.raises(DecodeError, match="tag expected"):
        decode_general_ciphering(b"")
    with pytest.raises(DecodeError, match="0xc8 is not general"):
        decode_general_ciphering(h(GLO_GET_REQUEST[0x30]))
    with pytest.raises(DecodeError, match="system title of 9 bytes") as excinfo:
        decode_general_ciphering(h("DB09") + ST)
    assert excinfo.value.offset == 2
    with pytest.raises(DecodeError, match="length 30 but 31 bytes follow") as excinfo:
        decode_general_ciphering(GENERAL_GLO + b"\x00")
    assert excinfo.value.offset == 10
    with pytest.raises(DecodeError, match="length 31 but 30"):
        decode_general_ciphering(GENERAL_GLO[:10] + b"\x1f" + GENERAL_GLO[11:])


@given(st.binary(max_size=40))
def test_decode_general_ciphering_raises_only_decode_error(data: bytes) -> None:
    try:
        tag, title, content = decode_general_ciphering(data)
    except DecodeError:
        return
    assert data[0] == tag and data.endswith(content)
    assert decode_general_ciphering(encode_general_ciphering(tag, title, content)) == (tag, title, content)
