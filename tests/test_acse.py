"""AARQ / AARE / RLRQ / RLRE codec (Green Book 9.4.2) against the public vectors.

Vectors come from tests/vectors/acse.json and tests/vectors/public-vectors.md
(sections 3.1, 3.3, 3.7, 3.8); each hex string taken from the markdown is
checked to appear there verbatim, so a typo here fails the test.
"""

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlmstw.codec.acse import (
    AARE,
    AARQ,
    FOREIGN_NAME,
    RLRE,
    RLRQ,
    AuthenticationValueChoice,
    decode_aare,
    decode_aarq,
    decode_rlre,
    decode_rlrq,
    encode_aare,
    encode_aarq,
    encode_rlre,
    encode_rlrq,
    with_user_information,
)
from dlmstw.enums import (
    AcseServiceUserDiagnostic,
    ApplicationContextName,
    AssociationResult,
    AuthenticationMechanism,
)
from dlmstw.errors import DecodeError

VECTORS = Path(__file__).parent / "vectors"
PUBLIC_MD = (VECTORS / "public-vectors.md").read_text(encoding="utf-8")
ACSE_JSON: dict[str, Any] = json.loads((VECTORS / "acse.json").read_text(encoding="utf-8"))

LN = ApplicationContextName.LOGICAL_NAME
LN_CIPHERED = ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING
ACCEPTED = AssociationResult.ACCEPTED
REJECTED = AssociationResult.REJECTED_PERMANENT
USER = 1


def published(hex_text: str) -> bytes:
    """Bytes of a hex string quoted verbatim in public-vectors.md."""
    assert hex_text in PUBLIC_MD, f"not in public-vectors.md: {hex_text}"
    return bytes.fromhex(hex_text)


def from_json(name: str, header: int = 0) -> bytes:
    """APDU of an acse.json entry, without its ``header`` bytes of wrapper."""
    return bytes.fromhex(ACSE_JSON[name]["hex"])[header:]


# InitiateRequest / InitiateResponse / glo-initiate APDUs carried in user-information.
IR_PLAIN = published("01000000065F1F0400007E1F04B0")
IRESP_PLAIN = published("0800065F1F040000501F01F40007")
GLO_IR_GB = published(
    "21303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39EE6FDB8E356855"
)
SYSTEM_TITLE_GB = bytes.fromhex("4D4D4D0000BC614E")

AARQ_VECTORS: list[tuple[str, bytes, AARQ]] = [
    (
        "3.3 no security [U][C]",
        published("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0"),
        AARQ(LN, user_information=IR_PLAIN),
    ),
    (
        "3.3 LLS 12345678 [U][C]",
        published(
            "6036A1090607608574050801018A0207808B0760857405080201AC0A80083132333435363738"
            "BE10040E01000000065F1F0400007E1F04B0"
        ),
        AARQ(
            LN,
            sender_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.LLS,
            calling_authentication_value=b"12345678",
            user_information=IR_PLAIN,
        ),
    ),
    (
        "3.3 LLS wrong password, real L+G [G]",
        published(
            "6036A1090607608574050801018A0207808B0760857405080201AC0A80083030303030303031"
            "BE10040E01000000065F1F040000181F0100"
        ),
        AARQ(
            LN,
            sender_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.LLS,
            calling_authentication_value=b"00000001",
            user_information=published("01000000065F1F040000181F0100"),
        ),
    ),
    (
        "3.3 HLS-GMAC non-ciphered context [C][U]",
        published(
            "6036A1090607608574050801018A0207808B0760857405080205AC0A80084B35366956616759"
            "BE10040E01000000065F1F0400007E1F04B0"
        ),
        AARQ(
            LN,
            sender_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.HLS_GMAC,
            calling_authentication_value=b"K56iVagY",
            user_information=IR_PLAIN,
        ),
    ),
    (
        "3.3 LLS ciphered context [U]; acse.json ciphered_lls_aarq",
        from_json("ciphered_lls_aarq"),
        AARQ(
            LN_CIPHERED,
            calling_ap_title=SYSTEM_TITLE_GB,
            sender_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.LLS,
            calling_authentication_value=b"12345678",
            user_information=GLO_IR_GB,
        ),
    ),
    (
        "3.1 real L+G ciphered LLS [G] aarq_test.go",
        published(
            "6066A109060760857405080103A60A040843495200000000018A0207808B0760857405080201"
            "AC0A80084A7553363642435ABE340432213030000001078E6341442275404C816C6BED3E33AE"
            "809EC51E1D0E428BE8F5F643E26C3DD89FD2E3F2220097124F58E0F4"
        ),
        AARQ(
            LN_CIPHERED,
            calling_ap_title=bytes.fromhex("4349520000000001"),
            sender_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.LLS,
            calling_authentication_value=b"JuS66BCZ",
            user_information=published(
                "213030000001078E6341442275404C816C6BED3E33AE809EC51E1D0E428BE8F5F643E26C3DD8"
                "9FD2E3F2220097124F58E0F4"
            ),
        ),
    ),
    (
        "3.3 assembled HLS-GMAC ciphered AARQ",
        published(
            "6055A109060760857405080103A60A04084D4D4D00000000018A0207808B0760857405080205"
            "AC0A80084B35366956616759BE230421211F3000000000C0505B89E53A178DB31DED5CCCCEB1"
            "E19F3480524465A8595011"
        ),
        AARQ(
            LN_CIPHERED,
            calling_ap_title=bytes.fromhex("4D4D4D0000000001"),
            sender_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.HLS_GMAC,
            calling_authentication_value=b"K56iVagY",
            user_information=published(
                "211F3000000000C0505B89E53A178DB31DED5CCCCEB1E19F3480524465A8595011"
            ),
        ),
    ),
    (
        "acse.json hls_mech2_aarq",
        from_json("hls_mech2_aarq"),
        AARQ(
            LN,
            sender_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.HLS,
            calling_authentication_value=b"12345678",
            user_information=bytes.fromhex("01000000065F1F0400007E1FFFFF"),
        ),
    ),
    (
        "acse.json paper_figure4_lls_aarq_wrapped (wrapper header removed)",
        from_json("paper_figure4_lls_aarq_wrapped", header=8),
        AARQ(
            LN,
            calling_ap_title=SYSTEM_TITLE_GB,
            sender_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.LLS,
            calling_authentication_value=b"ABCD0001",
            user_information=bytes.fromhex("01000000065F1F040060FEDFFFFF"),
        ),
    ),
    (
        "3.7 paper AARQ without calling AP title (wrapper header removed)",
        published(
            "00010020000100386036A1090607608574050801018A0207808B0760857405080201AC0A8008"
            "4142434430303031BE10040E01000000065F1F040060FEDFFFFF"
        )[8:],
        AARQ(
            LN,
            sender_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.LLS,
            calling_authentication_value=b"ABCD0001",
            user_information=bytes.fromhex("01000000065F1F040060FEDFFFFF"),
        ),
    ),
]

AARE_VECTORS: list[tuple[str, bytes, AARE]] = [
    (
        "3.3 no security [U][C]",
        published(
            "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007"
        ),
        AARE(LN, ACCEPTED, (USER, 0), user_information=IRESP_PLAIN),
    ),
    (
        "3.3 LLS wrong password: authentication-failure [G]",
        published(
            "6129A109060760857405080101A203020101A305A10302010DBE10040E0800065F1F040000101400800007"
        ),
        AARE(
            LN,
            REJECTED,
            (USER, AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE),
            user_information=published("0800065F1F040000101400800007"),
        ),
    ),
    (
        "3.3 rejected, bad DLMS version: ConfirmedServiceError [U]",
        published("611FA109060760857405080101A203020101A305A103020101BE0604040E010601"),
        AARE(
            LN,
            REJECTED,
            (USER, AcseServiceUserDiagnostic.NO_REASON_GIVEN),
            user_information=bytes.fromhex("0E010601"),
        ),
    ),
    (
        "3.3 wrong application context [U]",
        published(
            "6129A109060760857405080101A203020101A305A103020102BE10040E0800065F1F040000501F01F40007"
        ),
        AARE(
            LN,
            REJECTED,
            (USER, AcseServiceUserDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED),
            user_information=IRESP_PLAIN,
        ),
    ),
    (
        "3.3 HLS-GMAC authentication-required [U]; acse.json hls_gmac_aare_authentication_required",
        from_json("hls_gmac_aare_authentication_required"),
        AARE(
            LN,
            ACCEPTED,
            (USER, AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED),
            responder_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.HLS_GMAC,
            responding_authentication_value=b"P6wRJ21F",
            user_information=IRESP_PLAIN,
        ),
    ),
    (
        "3.3 assembled HLS-GMAC ciphered AARE",
        published(
            "6161A109060760857405080103A203020100A305A10302010EA40A04084D4D4D0000BC614E88"
            "020780890760857405080205AA0A8008503677524A323146BE230421281F30012345668B8BE1"
            "71679EF6ABFF5EB73A13D3C974706DD183052729F3EA7C"
        ),
        AARE(
            LN_CIPHERED,
            ACCEPTED,
            (USER, AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED),
            responding_ap_title=SYSTEM_TITLE_GB,
            responder_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.HLS_GMAC,
            responding_authentication_value=b"P6wRJ21F",
            user_information=published(
                "281F30012345668B8BE171679EF6ABFF5EB73A13D3C974706DD183052729F3EA7C"
            ),
        ),
    ),
    (
        "3.1 real L+G accepted, glo-initiate-response [G] aare_test.go",
        published(
            "6148A109060760857405080103A203020100A305A103020100A40A04084C475A2022604828BE23"
            "0421281F300000003149963E23D6DA824A369644B66A9A17C60C3CA3F63E58608FA192"
        ),
        AARE(
            LN_CIPHERED,
            ACCEPTED,
            (USER, 0),
            responding_ap_title=bytes.fromhex("4C475A2022604828"),
            user_information=published(
                "281F300000003149963E23D6DA824A369644B66A9A17C60C3CA3F63E58608FA192"
            ),
        ),
    ),
    (
        "3.1 ciphered rejection, glo-confirmedServiceError [G] TestDecodeAAREWithSecurity",
        published(
            "613EA109060760857405080103A203020101A305A103020101A40A04084B464D3434383831BE19"
            "04172E153000000109C4F6454CC72834A286BDD44312F06617"
        ),
        AARE(
            LN_CIPHERED,
            REJECTED,
            (USER, AcseServiceUserDiagnostic.NO_REASON_GIVEN),
            responding_ap_title=b"KFM44881",
            user_information=published("2E153000000109C4F6454CC72834A286BDD44312F06617"),
        ),
    ),
    (
        "3.3 HLS-GMAC ciphered, real meter WPDU (wrapper header removed)",
        published(
            "00010001001000636161A109060760857405080103A203020100A305A10302010EA40A040848"
            "584501353EC60988020780890760857405080205AA0A80084630433537353942BE230421281F"
            "3000000DF7EC9933D1A0BE2DF245B2768E39EB37E3869E960F795B6861BEAB"
        )[8:],
        AARE(
            LN_CIPHERED,
            ACCEPTED,
            (USER, AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED),
            responding_ap_title=bytes.fromhex("48584501353EC609"),
            responder_acse_requirements=True,
            mechanism_name=AuthenticationMechanism.HLS_GMAC,
            responding_authentication_value=b"F0C5759B",
            user_information=published(
                "281F3000000DF7EC9933D1A0BE2DF245B2768E39EB37E3869E960F795B6861BEAB"
            ),
        ),
    ),
    (
        "3.7 real WPDU-framed AARE [C] (wrapper header removed)",
        published(
            "000100010064002C612AA109060760857405080101A203020100A305A103020100BE11040F08"
            "0100065F1F0400007C1F04000007"
        )[8:],
        AARE(
            LN,
            ACCEPTED,
            (USER, 0),
            user_information=bytes.fromhex("080100065F1F0400007C1F04000007"),
        ),
    ),
    (
        "acse.json paper_figure4_aare_wrapped (wrapper header removed)",
        from_json("paper_figure4_aare_wrapped", header=8),
        AARE(
            LN,
            ACCEPTED,
            (USER, 0),
            responding_ap_title=SYSTEM_TITLE_GB,
            user_information=IRESP_PLAIN,
        ),
    ),
]

RLRQ_VECTORS: list[tuple[bytes, RLRQ]] = [
    (published("6203800100"), RLRQ(reason=0)),
    (published("6200"), RLRQ()),
    (
        published(
            "6239800100BE34043221303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B"
            "175BD52211BE6841DB204D39EE6FDB8E356855"
        ),
        RLRQ(reason=0, user_information=GLO_IR_GB),
    ),
]

RLRE_VECTORS: list[tuple[bytes, RLRE]] = [
    (published("6303800100"), RLRE(reason=0)),
    (published("6300"), RLRE()),
]

Decoder = Callable[[bytes], object]
ALL_ENCODED: list[tuple[Decoder, bytes]] = (
    [(decode_aarq, apdu) for _, apdu, _ in AARQ_VECTORS]
    + [(decode_aare, apdu) for _, apdu, _ in AARE_VECTORS]
    + [(decode_rlrq, apdu) for apdu, _ in RLRQ_VECTORS]
    + [(decode_rlre, apdu) for apdu, _ in RLRE_VECTORS]
)


@pytest.mark.parametrize(
    ("name", "apdu", "expected"), AARQ_VECTORS, ids=[v[0] for v in AARQ_VECTORS]
)
def test_aarq_vector_decodes_and_round_trips(name: str, apdu: bytes, expected: AARQ) -> None:
    assert decode_aarq(apdu) == expected
    assert encode_aarq(expected) == apdu


@pytest.mark.parametrize(
    ("name", "apdu", "expected"), AARE_VECTORS, ids=[v[0] for v in AARE_VECTORS]
)
def test_aare_vector_encodes_byte_exact_and_decodes(name: str, apdu: bytes, expected: AARE) -> None:
    assert encode_aare(expected) == apdu
    assert decode_aare(apdu) == expected


@pytest.mark.parametrize(("apdu", "expected"), RLRQ_VECTORS)
def test_rlrq_vectors(apdu: bytes, expected: RLRQ) -> None:
    assert decode_rlrq(apdu) == expected
    assert encode_rlrq(expected) == apdu


@pytest.mark.parametrize(("apdu", "expected"), RLRE_VECTORS)
def test_rlre_vectors(apdu: bytes, expected: RLRE) -> None:
    assert decode_rlre(apdu) == expected
    assert encode_rlre(expected) == apdu


def test_decoded_names_are_the_enumerations() -> None:
    aarq = decode_aarq(AARQ_VECTORS[4][1])
    assert aarq.application_context_name == ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING
    assert aarq.mechanism_name == AuthenticationMechanism.LLS
    aare = decode_aare(AARE_VECTORS[1][1])
    assert aare.result is AssociationResult.REJECTED_PERMANENT
    assert aare.result_source_diagnostic == (1, AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE)


@pytest.mark.parametrize(("decode", "apdu"), ALL_ENCODED)
def test_truncated_at_every_byte(decode: Decoder, apdu: bytes) -> None:
    for cut in range(len(apdu)):
        with pytest.raises(DecodeError):
            decode(apdu[:cut])


@pytest.mark.parametrize(("decode", "apdu"), ALL_ENCODED)
def test_trailing_bytes_and_wrong_outer_length(decode: Decoder, apdu: bytes) -> None:
    with pytest.raises(DecodeError, match="unexpected bytes"):
        decode(apdu + b"\x00")
    shorter = apdu[:1] + bytes((apdu[1] - 1,)) + apdu[2:] if apdu[1] else None
    if shorter is not None:
        with pytest.raises(DecodeError):
            decode(shorter)
    longer = apdu[:1] + bytes((apdu[1] + 1,)) + apdu[2:]
    with pytest.raises(DecodeError):
        decode(longer)


@pytest.mark.parametrize(("decode", "apdu"), ALL_ENCODED)
def test_corrupted_bytes_raise_only_decode_error(decode: Decoder, apdu: bytes) -> None:
    for pos in range(len(apdu)):
        for value in (0x00, 0x01, 0x1F, 0x7F, 0x80, 0x81, 0x85, 0xFF):
            mutated = apdu[:pos] + bytes((value,)) + apdu[pos + 1 :]
            try:
                decode(mutated)
            except DecodeError:
                pass


@given(st.binary(max_size=80))
def test_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    for decode in (decode_aarq, decode_aare, decode_rlrq, decode_rlre):
        for apdu in (data, bytes((0x60 + len(data) % 4, len(data))) + data):
            try:
                decode(apdu)
            except DecodeError:
                pass


@pytest.mark.parametrize(
    ("decode", "apdu", "reason"),
    [
        (
            decode_aarq,
            bytes.fromhex("6129A109060760857405080101A203020100A305A103020100"),
            "expected BER tag 0x60",
        ),
        (decode_aare, bytes.fromhex("601DA109060760857405080101"), "expected BER tag 0x61"),
        (decode_rlrq, bytes.fromhex("6300"), "expected BER tag 0x62"),
        (decode_rlre, bytes.fromhex("6200"), "expected BER tag 0x63"),
        (decode_aarq, b"", "found nothing"),
    ],
)
def test_wrong_apdu_tag(decode: Decoder, apdu: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(apdu)


@pytest.mark.parametrize(
    ("decode", "hex_text", "reason", "offset"),
    [
        (decode_aarq, "6000", "AARQ without application-context-name", 2),
        (decode_aare, "610BA109060760857405080101", "AARE without result", 13),
        (
            decode_aare,
            "6110A109060760857405080101A203020100",
            "AARE without result-source-diagnostic",
            18,
        ),
        # A1 says 8 bytes, its OBJECT IDENTIFIER says 7 more after its own 2.
        (
            decode_aarq,
            "601DA108060760857405080101BE10040E01000000065F1F0400007E1F04B0",
            "runs past",
            12,
        ),
        # A1 holds an OCTET STRING, not an OBJECT IDENTIFIER.
        (decode_aarq, "600BA109040760857405080101", "expected BER tag 0x06", 4),
        # user-information holds an INTEGER, not an OCTET STRING.
        (decode_aarq, "6010A109060760857405080101BE03020100", "expected BER tag 0x04", 15),
        # a universal tag at the top level of the AARQ.
        (decode_aarq, "600DA1090607608574050801010200", "unexpected tag 0x02", 13),
        # Association-result 3 does not exist.
        (
            decode_aare,
            "6117A109060760857405080101A203020103A305A103020100",
            "Association-result 3",
            17,
        ),
        # result-source-diagnostic choice [0] does not exist.
        (decode_aare, "6117A109060760857405080101A203020100A305A003020100", "choice 0xA0", 20),
        (
            decode_aare,
            "6112A109060760857405080101A203020100A300",
            "empty result-source-diagnostic",
            20,
        ),
        # authentication-value choice [2] external is not used by DLMS.
        (decode_aarq, "6014A109060760857405080101AC0782050102030405", "choice 0x82", 15),
        (decode_aarq, "600DA109060760857405080101AC00", "empty Authentication-value", 15),
        # bitstring with 4 unused bits.
        (decode_aarq, "6011A109060760857405080101AC04810204AA", "unused bits", 17),
        # ACSE-requirements with 8 unused bits, and empty.
        (decode_aarq, "600EA1090607608574050801018A0108", "ACSE-requirements", 15),
        (decode_aarq, "600DA1090607608574050801018A00", "ACSE-requirements", 15),
        (decode_aarq, "600DA1090607608574050801018B00", "empty OBJECT IDENTIFIER", 15),
        (decode_rlrq, "62028000", "empty BER INTEGER", 4),
        (decode_aarq, "6080", "indefinite", 1),
    ],
)
def test_malformed(decode: Decoder, hex_text: str, reason: str, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(bytes.fromhex(hex_text))
    assert reason in caught.value.reason
    assert caught.value.offset == offset


def test_foreign_application_context_is_kept_for_the_rejection() -> None:
    # 1.2.840.113549 is not 2.16.756.5.8.1.x: the meter must answer
    # application-context-name-not-supported, so decoding must succeed.
    apdu = bytes.fromhex("600AA10806062A864886F70D")
    aarq = decode_aarq(apdu)
    assert aarq == AARQ(FOREIGN_NAME, application_context_oid=bytes.fromhex("2A864886F70D"))
    assert encode_aarq(aarq) == apdu


@pytest.mark.parametrize(
    ("oid_hex", "name", "foreign_oid"),
    [
        ("60857405080301", FOREIGN_NAME, "60857405080301"),  # 2.16.756.5.8.3.1: other branch
        ("6085740508010101", FOREIGN_NAME, "6085740508010101"),  # one arc too many
        ("608574050801", FOREIGN_NAME, "608574050801"),  # the prefix alone
        ("608574050801814C", 204, ""),  # a DLMS context this meter does not know
    ],
)
def test_application_context_names(oid_hex: str, name: int, foreign_oid: str) -> None:
    oid = bytes.fromhex(oid_hex)
    apdu = (
        b"\x60"
        + bytes((len(oid) + 4,))
        + b"\xa1"
        + bytes((len(oid) + 2,))
        + b"\x06"
        + bytes((len(oid),))
        + oid
    )
    aarq = decode_aarq(apdu)
    assert aarq.application_context_name == name
    assert aarq.application_context_oid == bytes.fromhex(foreign_oid)
    assert encode_aarq(aarq) == apdu


def test_foreign_mechanism_is_kept_for_the_rejection() -> None:
    apdu = bytes.fromhex("6013A1090607608574050801018B062A864886F70D")
    aarq = decode_aarq(apdu)
    assert aarq == AARQ(
        LN, mechanism_name=FOREIGN_NAME, mechanism_oid=bytes.fromhex("2A864886F70D")
    )
    assert encode_aarq(aarq) == apdu


def test_unknown_context_tags_are_skipped_and_protocol_version_kept() -> None:
    # protocol-version [0] 0780, called-AE-qualifier [3] and implementation-information [29].
    apdu = bytes.fromhex("601880020780A109060760857405080101A3030401AA9D024142")
    aarq = decode_aarq(apdu)
    assert aarq == AARQ(LN, protocol_version=b"\x07\x80")
    assert encode_aarq(aarq) == bytes.fromhex("600F80020780A109060760857405080101")


def test_calling_ids_and_called_title_in_ascending_tag_order() -> None:
    aarq = AARQ(
        LN,
        called_ap_title=b"ABCDEFGH",
        calling_ae_qualifier=b"\x01\x02",
        calling_ap_invocation_id=5,
        calling_ae_invocation_id=-1,
    )
    apdu = bytes.fromhex(
        "6027A109060760857405080101A20A04084142434445464748A70404020102A803020105A9030201FF"
    )
    assert encode_aarq(aarq) == apdu
    assert decode_aarq(apdu) == aarq


def test_authentication_value_bitstring_choice() -> None:
    aarq = AARQ(
        LN,
        sender_acse_requirements=True,
        mechanism_name=AuthenticationMechanism.LLS,
        calling_authentication_value=b"12345678",
        authentication_value_choice=AuthenticationValueChoice.BITSTRING,
    )
    apdu = bytes.fromhex(
        "6025A1090607608574050801018A0207808B0760857405080201AC0B8109003132333435363738"
    )
    assert encode_aarq(aarq) == apdu
    assert decode_aarq(apdu) == aarq


@pytest.mark.parametrize(
    ("hex_text", "expected"),
    [
        ("600EA1090607608574050801018A0100", False),  # no bit at all
        ("600FA1090607608574050801018A020700", False),  # authentication(0) clear
        ("600FA1090607608574050801018A020780", True),  # authentication(0) set
        ("600FA1090607608574050801018A0206C0", True),  # and a bit of a later version
    ],
)
def test_acse_requirements_bits(hex_text: str, expected: bool) -> None:
    assert decode_aarq(bytes.fromhex(hex_text)).sender_acse_requirements is expected


def test_acse_service_provider_diagnostic() -> None:
    aare = AARE(LN, REJECTED, (2, 2))
    apdu = bytes.fromhex("6117A109060760857405080101A203020101A305A203020102")
    assert encode_aare(aare) == apdu
    assert decode_aare(apdu) == aare


def test_encode_aare_refuses_an_unknown_diagnostic_source() -> None:
    with pytest.raises(ValueError):
        encode_aare(AARE(LN, REJECTED, (3, 0)))


def test_long_user_information_uses_long_form_lengths() -> None:
    payload = bytes(range(256)) * 2
    rlrq = RLRQ(user_information=payload)
    apdu = encode_rlrq(rlrq)
    assert apdu[:12] == bytes.fromhex("62820208BE82020404820200")
    assert apdu[12:] == payload
    assert decode_rlrq(apdu) == rlrq


_names = st.integers(min_value=0, max_value=10_000)
_optional_bytes = st.none() | st.binary(max_size=40)
_optional_ints = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)


@st.composite
def aarqs(draw: st.DrawFn) -> AARQ:
    value = draw(_optional_bytes)
    return AARQ(
        application_context_name=draw(_names),
        calling_ap_title=draw(_optional_bytes),
        calling_ae_qualifier=draw(_optional_bytes),
        calling_ap_invocation_id=draw(_optional_ints),
        calling_ae_invocation_id=draw(_optional_ints),
        called_ap_title=draw(_optional_bytes),
        sender_acse_requirements=draw(st.booleans()),
        mechanism_name=draw(st.none() | _names),
        calling_authentication_value=value,
        user_information=draw(st.none() | st.binary(max_size=300)),
        protocol_version=draw(_optional_bytes),
        authentication_value_choice=(
            AuthenticationValueChoice.CHARSTRING
            if value is None
            else draw(st.sampled_from(AuthenticationValueChoice))
        ),
    )


@st.composite
def aares(draw: st.DrawFn) -> AARE:
    value = draw(_optional_bytes)
    return AARE(
        application_context_name=draw(_names),
        result=draw(st.sampled_from(AssociationResult)),
        result_source_diagnostic=(draw(st.sampled_from([1, 2])), draw(st.integers(0, 255))),
        responding_ap_title=draw(_optional_bytes),
        responding_ae_qualifier=draw(_optional_bytes),
        responder_acse_requirements=draw(st.booleans()),
        mechanism_name=draw(st.none() | _names),
        responding_authentication_value=value,
        user_information=draw(st.none() | st.binary(max_size=300)),
        protocol_version=draw(_optional_bytes),
        authentication_value_choice=(
            AuthenticationValueChoice.CHARSTRING
            if value is None
            else draw(st.sampled_from(AuthenticationValueChoice))
        ),
    )


@given(aarqs())
def test_aarq_round_trip(aarq: AARQ) -> None:
    assert decode_aarq(encode_aarq(aarq)) == aarq


@given(aares())
def test_aare_round_trip(aare: AARE) -> None:
    assert decode_aare(encode_aare(aare)) == aare


@given(st.none() | st.integers(0, 30), st.none() | st.binary(max_size=300))
def test_release_round_trip(reason: int | None, user_information: bytes | None) -> None:
    assert decode_rlrq(encode_rlrq(RLRQ(reason, user_information))) == RLRQ(
        reason, user_information
    )
    assert decode_rlre(encode_rlre(RLRE(reason, user_information))) == RLRE(
        reason, user_information
    )


GREEN_BOOK_AARQ = bytes.fromhex(
    "6036A1090607608574050803018A0207808B0760857405080205AC0A80084B35324C41634D44BE10040E01000000065F1F0400007E1F04B0")


@given(st.binary(max_size=600))
def test_with_user_information_is_the_apdu_encoded_with_it(user_information: bytes) -> None:
    """Splicing a new user-information in gives what encoding the decoded APDU with it gives."""
    aarq = decode_aarq(GREEN_BOOK_AARQ)
    assert with_user_information(GREEN_BOOK_AARQ, user_information) == encode_aarq(
        dataclasses.replace(aarq, user_information=user_information))
    aare = encode_aare(AARE(application_context_name=1, result=AssociationResult.ACCEPTED,
                            result_source_diagnostic=(1, 0), responding_ap_title=b"MMM\x00\x00\x00\x00\x01",
                            user_information=b"\x08\x00\x06\x5f\x1f\x04\x00\x00\x10\x14\x04\x00\x00\x07"))
    assert with_user_information(aare, user_information) == encode_aare(
        dataclasses.replace(decode_aare(aare), user_information=user_information))


def test_with_user_information_needs_an_aarq_or_aare_that_has_one() -> None:
    with pytest.raises(DecodeError, match="not an AARQ or AARE"):
        with_user_information(bytes.fromhex("6200"), b"\x01")
    without = encode_aarq(dataclasses.replace(decode_aarq(GREEN_BOOK_AARQ), user_information=None))
    with pytest.raises(DecodeError, match="no user-information"):
        with_user_information(without, b"\x01")
