"""The packet dissector and the packet-log record (issue 5).

Vectors come from tests/vectors: acse.json (the paper's figure 4 and public
AARQ/AARE examples), security.json (Green Book suite 0 example keys),
appendix-datablocks.txt and public-vectors.md (sources named per test).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmstw.codec import services
from dlmstw.codec.axdr import encode_data
from dlmstw.codec.services import CosemAttributeDescriptor as Attr
from dlmstw.codec.services import CosemMethodDescriptor as Method
from dlmstw.dissector import Field, Keys, dissect_apdu, dissect_frame
from dlmstw.dissector.record import packet_record
from dlmstw.enums import ActionResult, DataAccessResult, DataType
from dlmstw.framing.wrapper import encode_wpdu
from dlmstw.monitor.capture import Exchange
from dlmstw.security.ciphering import encode_ciphered_apdu, encode_general_ciphering, protect

VECTORS = Path(__file__).parent / "vectors"
ACSE = json.loads((VECTORS / "acse.json").read_text())
SECURITY = json.loads((VECTORS / "security.json").read_text())
SUITE0 = SECURITY["suite0_gcm"]
EK = bytes.fromhex(SUITE0["encryption_key"])
AK = bytes.fromhex(SUITE0["authentication_key"])
METER_TITLE = bytes.fromhex(SUITE0["system_title"])
CLIENT_TITLE = bytes.fromhex(SECURITY["hls_gmac_mechanism5"]["client_system_title"])
APPENDIX = [line.strip() for line in (VECTORS / "appendix-datablocks.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]

CLOCK = bytes.fromhex("0000010000FF")
PROFILE = bytes.fromhex("0100630100FF")


def child(field: Field, *path: str) -> Field:
    """Follow child names from ``field``; each step takes the first child of that name."""
    for name in path:
        matches = [c for c in field.children if c.name == name]
        assert matches, f"{field.name} has no child {name!r}: {[c.name for c in field.children]}"
        field = matches[0]
    return field


def find(field: Field, name: str) -> list[Field]:
    return [f for f in field.walk() if f.name == name]


def check_offsets(tree: Field, data: bytes) -> None:
    """Every field's hex is the octets at its offset (deciphered subtrees excepted)."""

    def visit(field: Field) -> None:
        if field.name == "deciphered":
            return
        octets = data[field.offset : field.offset + field.length].hex().upper()
        if field.hex.endswith("…"):
            assert octets.startswith(field.hex[:-1]), field
        else:
            assert field.hex == octets, field
        for sub in field.children:
            assert field.offset <= sub.offset and sub.offset + sub.length <= field.offset + field.length, sub
            visit(sub)

    visit(tree)


def clean(data: bytes, keys: Keys | None = None) -> Field:
    """Dissect an APDU that must parse completely; checks offsets and hex."""
    tree = dissect_apdu(data, keys)
    assert tree.errors() == []
    assert (tree.offset, tree.length) == (0, len(data))
    check_offsets(tree, data)
    return tree


# ---------------------------------------------------------------------------
# The paper's figure 4 (tests/vectors/acse.json, paper_figure4_*)


def test_paper_figure4_aarq_names_every_field_of_the_figure() -> None:
    frame = bytes.fromhex(ACSE["paper_figure4_lls_aarq_wrapped"]["hex"])
    tree = dissect_frame(frame)
    assert tree.errors() == []
    check_offsets(tree, frame)
    header = child(tree, "wrapper-header")
    assert (header.offset, header.length, header.hex) == (0, 8, "0001002000010044")
    assert [(f.name, f.hex, f.meaning) for f in header.children] == [
        ("version", "0001", "1 (wrapper version 1)"),
        ("source-wport", "0020", "32 (0x0020)"),
        ("destination-wport", "0001", "1 (0x0001)"),
        ("length", "0044", "68 octets of APDU"),
    ]
    aarq = child(tree, "aarq")
    assert (aarq.offset, aarq.length) == (8, 68)
    context = child(aarq, "application-context-name")
    assert (context.offset, context.length, context.hex) == (10, 11, "A109060760857405080101")
    assert context.meaning == "Logical name referencing, no ciphering"
    assert child(context, "value").hex == "60857405080101"
    assert child(context, "value").meaning == "2.16.756.5.8.1.1: Logical name referencing, no ciphering"
    title = child(aarq, "calling-AP-title", "value")
    assert title.hex == "4D4D4D0000BC614E"
    assert child(title, "manufacturer-id").meaning == 'manufacturer "MMM" (FLAG id)'
    assert child(title, "device-id").meaning == "0000BC614E (12345678)"
    requirements = child(aarq, "sender-acse-requirements")
    assert (requirements.hex, child(requirements, "authentication").meaning) == ("8A020780", "bit 0: set")
    mechanism = child(aarq, "mechanism-name")
    assert child(mechanism, "value").hex == "60857405080201"
    assert mechanism.meaning == "LLS (low level security, password)"
    password = child(aarq, "calling-authentication-value", "value")
    assert (password.offset, password.hex) == (50, "4142434430303031")
    assert password.meaning == 'password 4142434430303031 ("ABCD0001")'
    initiate = child(aarq, "user-information", "initiate-request")
    assert (initiate.offset, initiate.hex) == (62, "01000000065F1F040060FEDFFFFF")
    assert child(initiate, "dedicated-key").meaning == "absent"
    assert child(initiate, "response-allowed").meaning == "TRUE (default)"
    assert child(initiate, "proposed-quality-of-service").meaning == "absent"
    assert child(initiate, "proposed-dlms-version-number").meaning == "DLMS version 6"
    assert child(initiate, "client-max-receive-pdu-size").meaning == "65535 octets"
    block = child(initiate, "proposed-conformance", "conformance-block")
    assert block.hex == "60FEDF"
    bits = [(f.name, f.offset, f.meaning.endswith(": set")) for f in block.children]
    set_bits = {1, 2, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 20, 21, 22, 23}  # 0x60FEDF, bit 0 = MSB
    assert [(offset, is_set) for _, offset, is_set in bits] == [(71 + n // 8, n in set_bits) for n in range(24)]
    assert [name for name, _, _ in bits] == [
        "reserved-zero", "general-protection", "general-block-transfer", "read", "write", "unconfirmed-write",
        "delta-value-encoding", "reserved-seven", "attribute0-supported-with-set", "priority-mgmt-supported",
        "attribute0-supported-with-get", "block-transfer-with-get-or-read", "block-transfer-with-set-or-write",
        "block-transfer-with-action", "multiple-references", "information-report", "data-notification", "access",
        "parameterized-access", "get", "set", "selective-access", "event-notification", "action"]
    assert block.children[19].meaning == "bit 19: set"
    assert block.children[3].meaning == "bit 3: not set"


def test_paper_figure4_aare_accepted() -> None:
    frame = bytes.fromhex(ACSE["paper_figure4_aare_wrapped"]["hex"])
    tree = dissect_frame(frame)
    assert tree.errors() == []
    check_offsets(tree, frame)
    assert child(tree, "wrapper-header").hex == "0001000100200037"
    aare = child(tree, "aare")
    assert child(aare, "result").meaning == "accepted"
    assert child(aare, "result", "value").meaning == "0 accepted"
    assert child(aare, "result-source-diagnostic").meaning == "acse-service-user: null"
    assert child(aare, "responding-AP-title", "value").hex == "4D4D4D0000BC614E"
    response = child(aare, "user-information", "initiate-response")
    assert response.hex == "0800065F1F040000501F01F40007"
    assert child(response, "negotiated-dlms-version-number").meaning == "DLMS version 6"
    assert child(response, "negotiated-conformance").meaning.startswith("0x00501F: ")
    assert child(response, "server-max-receive-pdu-size").meaning == "500 octets"
    assert child(response, "vaa-name").meaning == "0x0007 (logical name referencing)"
    assert tree.meaning.startswith("wrapper frame, wPort 1 -> wPort 32: A-ASSOCIATE response")


# ---------------------------------------------------------------------------
# ACSE (public-vectors.md 3.3 and 3.8)


def test_aare_rejected_wrong_password() -> None:
    # [G] gvtret/gosem dlmsclient/client_test.go, a real L+G meter.
    aare = clean(bytes.fromhex("6129A109060760857405080101A203020101A305A10302010D"
                               "BE10040E0800065F1F040000101400800007"))
    assert child(aare, "result").meaning == "rejected-permanent"
    assert child(aare, "result-source-diagnostic").meaning == "acse-service-user: authentication-failure"


def test_aare_rejected_with_confirmed_service_error() -> None:
    # [U] dlms-cosem tests/test_asce/test_aare.py: DLMS version too low.
    aare = clean(bytes.fromhex("611FA109060760857405080101A203020101A305A103020101BE0604040E010601"))
    error = child(aare, "user-information", "confirmed-service-error")
    assert [(f.name, f.meaning) for f in error.children] == [
        ("tag", "ConfirmedServiceError [14]"), ("service", "initiate-error [1]"),
        ("service-error", "initiate [6]"), ("value", "1 dlms-version-too-low")]
    assert child(aare, "result-source-diagnostic").meaning == "acse-service-user: no-reason-given"


def test_aare_rejected_application_context() -> None:
    # [U] test_aare.py: wrong application context.
    aare = clean(bytes.fromhex("6129A109060760857405080101A203020101A305A103020102"
                               "BE10040E0800065F1F040000501F01F40007"))
    assert child(aare, "result-source-diagnostic").meaning == (
        "acse-service-user: application-context-name-not-supported")


def test_hls_gmac_aarq_and_aare_name_the_challenges() -> None:
    # public-vectors.md 3.3: Green Book challenges CtoS "K56iVagY", StoC "P6wRJ21F".
    aarq = clean(bytes.fromhex("6036A1090607608574050801018A0207808B0760857405080205AC0A80084B35366956616759"
                               "BE10040E01000000065F1F0400007E1F04B0"))
    assert child(aarq, "mechanism-name").meaning == "HLS GMAC"
    assert child(aarq, "calling-authentication-value").meaning == 'challenge CtoS 4B35366956616759 ("K56iVagY")'
    aare = clean(bytes.fromhex(ACSE["hls_gmac_aare_authentication_required"]["hex"]))
    assert child(aare, "result-source-diagnostic").meaning == "acse-service-user: authentication-required"
    assert child(aare, "responder-acse-requirements").meaning == "authentication functional unit"
    assert child(aare, "responding-authentication-value").meaning == 'challenge StoC 503677524A323146 ("P6wRJ21F")'


def test_release_request_and_response() -> None:
    # public-vectors.md 3.8 ([G] client_test.go).
    rlrq = clean(bytes.fromhex("6203800100"))
    assert rlrq.name == "rlrq"
    assert child(rlrq, "reason").meaning == "normal"
    assert child(rlrq, "reason", "value").hex == "00"
    rlre = clean(bytes.fromhex("6303800100"))
    assert (rlre.name, child(rlre, "reason").meaning) == ("rlre", "normal")
    assert clean(bytes.fromhex("6200")).meaning == "A-RELEASE request"
    assert clean(bytes.fromhex("6300")).meaning == "A-RELEASE response"


def test_rlrq_with_ciphered_initiate_request_deciphers_with_the_senders_title() -> None:
    # [U] test_rlrq.py: the glo-initiate-request of the Green Book example (security.json keys).
    data = bytes.fromhex("6239800100BE34043221303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD5"
                         "2211BE6841DB204D39EE6FDB8E356855")
    rlrq = clean(data, Keys(EK, AK, METER_TITLE))
    glo = child(rlrq, "user-information", "glo-initiate-request")
    plain = child(glo, "deciphered", "initiate-request")
    assert plain.hex == "01011000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0"
    assert child(plain, "dedicated-key").meaning == "00112233445566778899AABBCCDDEEFF"
    assert child(plain, "client-max-receive-pdu-size").meaning == "1200 octets"


def test_ciphered_aarq_uses_its_calling_ap_title() -> None:
    data = bytes.fromhex(ACSE["ciphered_lls_aarq"]["hex"])
    aarq = clean(data, Keys(EK, AK, None))
    assert child(aarq, "application-context-name").meaning == "Logical name referencing with ciphering"
    glo = child(aarq, "user-information", "glo-initiate-request")
    assert child(glo, "authentication-tag").meaning == "verified with the given keys"
    deciphered = child(glo, "deciphered")
    assert (deciphered.offset, deciphered.length) == (child(glo, "ciphertext").offset, 31)
    assert child(deciphered, "initiate-request", "proposed-dlms-version-number").meaning == "DLMS version 6"


def test_ciphered_hls_aare_with_the_meters_title() -> None:
    # public-vectors.md 3.3, assembled from the Green Book parameters.
    data = bytes.fromhex("6161A109060760857405080103A203020100A305A10302010EA40A04084D4D4D0000BC614E880207808907"
                         "60857405080205AA0A8008503677524A323146BE230421281F30012345668B8BE171679EF6ABFF5EB73A13D3"
                         "C974706DD183052729F3EA7C")
    aare = clean(data, Keys(EK, AK, None))
    glo = child(aare, "user-information", "glo-initiate-response")
    assert child(glo, "invocation-counter").meaning == "19088742 (0x01234566)"
    assert child(glo, "deciphered", "initiate-response").hex == "0800065F1F040000501F01F40007"


# ---------------------------------------------------------------------------
# GET (public-vectors.md 3.4 and appendix A)


def test_get_request_normal_with_names() -> None:
    # [U] test_xdlms/test_get.py
    data = bytes.fromhex("C001C1000100002B0100FF0200")
    tree = dissect_apdu(data, names={bytes.fromhex("00002B0100FF"): "Invocation counter"}.get)
    check_offsets(tree, data)
    assert tree.name == "get-request"
    assert child(tree, "choice").meaning == "get-request-normal [1]"
    invoke = child(tree, "invoke-id-and-priority")
    assert [(f.name, f.meaning) for f in invoke.children] == [
        ("invoke-id", "bits 0-3: 1"), ("service-class", "bit 6: confirmed"), ("priority", "bit 7: high")]
    descriptor = child(tree, "cosem-attribute-descriptor")
    assert [(f.name, f.offset, f.hex, f.meaning) for f in descriptor.children] == [
        ("class-id", 3, "0001", "1 Data"),
        ("instance-id", 5, "00002B0100FF", "0-0:43.1.0*255 (Invocation counter)"),
        ("attribute-id", 11, "02", "2 value")]
    assert child(tree, "access-selection").meaning == "absent"
    assert tree.meaning == "get-request-normal: 1 Data 0-0:43.1.0*255 (Invocation counter) attribute 2 value"


def test_get_request_normal_with_range_descriptor_names_the_parameters() -> None:
    start = bytes.fromhex("07E80B15FF000000FFFEB600")
    end = bytes.fromhex("07E80B16FF000000FFFEB600")
    capture = (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 8), (DataType.OCTET_STRING, CLOCK),
                                    (DataType.INTEGER, 2), (DataType.LONG_UNSIGNED, 0)])
    parameters = (DataType.STRUCTURE, [capture, (DataType.OCTET_STRING, start), (DataType.OCTET_STRING, end),
                                       (DataType.ARRAY, [])])
    data = services.encode_request(services.GetRequestNormal(
        0xC1, Attr(7, PROFILE, 2), services.SelectiveAccess(1, parameters)))
    tree = clean(data)
    assert child(tree, "cosem-attribute-descriptor").meaning == (
        "7 Profile generic 1-0:99.1.0*255 attribute 2 buffer")
    selection = child(tree, "access-selection")
    assert selection.meaning == "range_descriptor"
    assert child(selection, "access-selector").meaning == "1 range_descriptor"
    restricting = child(selection, "access-parameters", "restricting_object")
    assert [f.meaning for f in restricting.children[2:]] == [
        "long-unsigned: 8 Clock", "octet-string: 0-0:1.0.0*255", "integer: 2", "long-unsigned: 0"]
    assert child(selection, "access-parameters", "from_value").meaning == (
        "octet-string: 2024-11-21T00:00:00+05:30 (day of week not specified), deviation -330 min (UTC+05:30), "
        "status 0x00 (ok)")
    assert child(selection, "access-parameters", "selected_values").meaning == "array of 0 elements"


def test_get_request_next_and_with_list() -> None:
    # [U] test_get.py
    tree = clean(bytes.fromhex("C002C100000003"))
    assert (child(tree, "choice").meaning, child(tree, "block-number").meaning) == ("get-request-next [2]", "3")
    tree = clean(bytes.fromhex("C003C102000100002A0000FF020000080000010000FF0200"))
    items = child(tree, "attribute-descriptor-list")
    assert child(items, "count").meaning == "2 items"
    assert [f.meaning for f in items.children[1:]] == [
        "1 Data 0-0:42.0.0*255 attribute 2 value", "8 Clock 0-0:1.0.0*255 attribute 2 time"]


def test_get_response_normal_data_and_data_access_result() -> None:
    # [U] test_get.py
    tree = clean(bytes.fromhex("C401C1000600001391"))
    data = child(tree, "result", "data")
    assert [(f.name, f.hex, f.meaning) for f in data.children] == [
        ("tag", "06", "double-long-unsigned [6]"), ("value", "00001391", "5009")]
    assert tree.meaning == "get-response-normal: double-long-unsigned: 5009"
    tree = clean(bytes.fromhex("C401C10101"))
    assert child(tree, "result", "data-access-result").meaning == "1 hardware-fault"


def test_get_response_with_list_date_time_as_iso() -> None:
    # [U] test_get.py: octet-string "ISK1030777764366" and a date-time with deviation -60.
    tree = clean(bytes.fromhex("C403C10200091049534B3130333037373737363433363600090C07E50603040E091700FFC400"))
    results = child(tree, "result")
    assert child(results, "[0]", "data", "value").meaning == '49534B31303330373737373634333636 ("ISK1030777764366")'
    assert child(results, "[1]", "data", "value").meaning == (
        "2021-06-03T14:09:23+01:00 (Thu), deviation -60 min (UTC+01:00), status 0x00 (ok)")


def test_get_response_with_datablock_first_block_shows_the_start_of_the_data() -> None:
    # Appendix A1: block 1 of a profile buffer, 1440 rows, data continuing in the next block.
    data = bytes.fromhex(APPENDIX[0])
    tree = clean(data)
    result = child(tree, "result")
    assert result.meaning == "block 1, 1182 octets"
    part = child(result, "raw-data", "data")
    array = child(part, "value")
    assert array.meaning == "array of 1440 elements"
    rows = [f for f in array.children if f.name.startswith("[")]
    assert len(rows) == 64
    assert child(rows[0], "[0]").meaning == (
        "octet-string: 2019-12-19T02:00:00+01:00 (Thu), deviation -60 min (UTC+01:00), status 0x00 (ok)")
    more = child(array, "more")
    assert more.meaning == f"… 1376 more elements from byte {more.offset}"
    incomplete = child(part, "incomplete")
    assert (incomplete.meaning, incomplete.offset + incomplete.length) == (
        "the Data continues in the next block", len(data))


def test_get_response_with_datablock_last_block_and_error() -> None:
    # Appendix A2 and [U] "last block carrying data-access-result 1".
    tree = clean(bytes.fromhex(APPENDIX[1]))
    assert child(tree, "result").meaning == "block 19 (last), 380 octets"
    assert child(tree, "result", "raw-data", "value").meaning == "380 octets of encoded Data"
    tree = clean(bytes.fromhex("C402C101000000130101"))
    assert child(tree, "result").meaning == "block 19: hardware-fault"


def test_large_array_is_summarised_after_64_elements() -> None:
    rows = [(DataType.STRUCTURE, [(DataType.DOUBLE_LONG_UNSIGNED, i), (DataType.NULL_DATA, None)])
            for i in range(5000)]
    data = services.encode_response(services.GetResponseNormal(0xC1, encode_data((DataType.ARRAY, rows))))
    tree = clean(data)
    array = child(tree, "result", "data")
    assert len(array.children) == 2 + 64 + 1
    more = array.children[-1]
    assert more.name == "more"
    assert more.meaning == f"… 4936 more elements, bytes {more.offset}..{len(data) - 1}"
    assert more.hex.endswith("…") and array.hex.endswith("…")
    assert len(json.dumps(tree.to_json())) < 200_000


# ---------------------------------------------------------------------------
# SET (public-vectors.md 3.4 and the codec's encoders)


def test_set_request_normal_and_response() -> None:
    # [U] test_xdlms/test_set.py
    tree = clean(bytes.fromhex("C101C100080000010000FF0200090C07E50118FF0E303950FFC400"))
    assert child(tree, "value").meaning == (
        "octet-string: 2021-01-24T14:48:57.800+01:00 (day of week not specified), deviation -60 min (UTC+01:00), "
        "status 0x00 (ok)")
    tree = clean(bytes.fromhex("C501C100"))
    assert (tree.name, child(tree, "result").meaning) == ("set-response", "0 success")


def test_set_request_scaler_unit_is_named() -> None:
    value = (DataType.STRUCTURE, [(DataType.INTEGER, -2), (DataType.ENUM, 35)])
    data = services.encode_request(services.SetRequestNormal(0xC1, Attr(3, bytes.fromhex("0100200700FF"), 3), None,
                                                             value))
    tree = clean(data)
    assert child(tree, "value", "scaler").meaning == "integer: -2"
    assert child(tree, "value", "unit").meaning == "enum: 35 (volt)"


@pytest.mark.parametrize(("message", "form", "meaning"), [
    (services.SetRequestWithFirstDatablock(0xC1, Attr(1, CLOCK, 2), None, False, 1, bytes.fromhex("0904")),
     "set-request-with-first-datablock [2]",
     "set-request-with-first-datablock: 1 Data 0-0:1.0.0*255 attribute 2 value, block 1, 2 octets"),
    (services.SetRequestWithDatablock(0xC1, True, 2, bytes.fromhex("01020304")),
     "set-request-with-datablock [3]", "set-request-with-datablock: block 2 (last), 4 octets"),
    (services.SetRequestWithList(0xC1, ((Attr(1, CLOCK, 2), None), (Attr(3, PROFILE, 3), None)),
                                 ((DataType.UNSIGNED, 5),
                                  (DataType.STRUCTURE, [(DataType.INTEGER, 0), (DataType.ENUM, 30)]))),
     "set-request-with-list [4]", "set-request-with-list: 2 attributes"),
    (services.SetRequestWithListAndFirstDatablock(0xC1, ((Attr(1, CLOCK, 2), None),), False, 1, b"\x11\x05"),
     "set-request-with-list-and-first-datablock [5]",
     "set-request-with-list-and-first-datablock: 1 attributes, block 1, 2 octets"),
])
def test_set_request_forms(message: services.Request, form: str, meaning: str) -> None:
    tree = clean(services.encode_request(message))
    assert (child(tree, "choice").meaning, tree.meaning) == (form, meaning)


def test_set_request_with_list_shapes_each_value() -> None:
    message = services.SetRequestWithList(0xC1, ((Attr(1, CLOCK, 2), None), (Attr(3, PROFILE, 3), None)),
                                          ((DataType.UNSIGNED, 5),
                                           (DataType.STRUCTURE, [(DataType.INTEGER, 0), (DataType.ENUM, 30)])))
    tree = clean(services.encode_request(message))
    assert child(tree, "value-list", "[1]", "unit").meaning == "enum: 30 (watt-hour)"


def test_set_request_first_datablock_data_is_dissected() -> None:
    message = services.SetRequestWithFirstDatablock(0xC1, Attr(1, CLOCK, 2), None, False, 1,
                                                    bytes.fromhex("0204120001"))
    tree = clean(services.encode_request(message))
    part = child(tree, "datablock", "raw-data", "data")
    assert child(part, "value", "[0]").meaning == "long-unsigned: 1"
    assert child(part, "incomplete").length == 0


@pytest.mark.parametrize(("message", "meaning"), [
    (services.SetResponseDatablock(0xC1, 7), "set-response-datablock: block 7 received"),
    (services.SetResponseLastDatablock(0xC1, DataAccessResult.SUCCESS, 8),
     "set-response-last-datablock: success, block 8"),
    (services.SetResponseLastDatablockWithList(0xC1, (DataAccessResult.SUCCESS, DataAccessResult.TYPE_UNMATCHED), 3),
     "set-response-last-datablock-with-list: success, type-unmatched, block 3"),
    (services.SetResponseWithList(0xC1, (DataAccessResult.READ_WRITE_DENIED,)),
     "set-response-with-list: read-write-denied"),
])
def test_set_response_forms(message: services.Response, meaning: str) -> None:
    assert clean(services.encode_response(message)).meaning == meaning


# ---------------------------------------------------------------------------
# ACTION (public-vectors.md 3.5)


def test_action_request_reply_to_hls_authentication() -> None:
    # assembled from the Green Book HLS-GMAC values (public-vectors.md 3.5).
    tree = clean(bytes.fromhex("C301C1000F0000280000FF0101091110000000011A52FE7DD3E72748973C1E28"))
    assert child(tree, "cosem-method-descriptor").meaning == (
        "15 Association LN 0-0:40.0.0*255 method 1 reply_to_hls_authentication")
    assert child(tree, "cosem-method-descriptor", "method-id").meaning == "1 reply_to_hls_authentication"
    assert child(tree, "method-invocation-parameters").meaning == (
        "octet-string: 10000000011A52FE7DD3E72748973C1E28")
    tree = clean(bytes.fromhex("C701C100010009111001234567FE1466AFB3DBCD4F9389E2B7"))
    single = child(tree, "single-response")
    assert child(single, "result").meaning == "0 success"
    assert single.meaning == "success, returns octet-string: 1001234567FE1466AFB3DBCD4F9389E2B7"


def test_action_forms_from_gosem() -> None:
    # [G] pkg/dlms/actionRequest_test.go: normal, with-first-pblock, with-pblock, next-pblock.
    normal = clean(bytes.fromhex("C3015100010100000300FF020109050102030405"))
    assert normal.meaning == "action-request-normal: 1 Data 1-0:0.3.0*255 method 2"
    assert child(normal, "invoke-id-and-priority").meaning == "0x51: invoke-id 1, confirmed, normal priority"
    assert child(normal, "invoke-id-and-priority", "reserved").meaning == "bits 4-5: 1 (should be 0)"
    first = clean(bytes.fromhex("C3045100010100000300FF020100000001050102030405"))
    assert child(first, "datablock").meaning == "block 1 (last), 5 octets"
    assert clean(bytes.fromhex("C306510100000001050102030405")).meaning == (
        "action-request-with-pblock: block 1 (last), 5 octets")
    assert clean(bytes.fromhex("C3025100000001")).meaning == (
        "action-request-next-pblock: block 1 received, send the next")
    # [U] test_action.py: no parameters; success without data; other-reason.
    assert child(clean(bytes.fromhex("C301C0000F0000280000FF0100")), "method-invocation-parameters").meaning == "absent"
    assert clean(bytes.fromhex("C701C00000")).meaning == "action-response-normal: success"
    assert clean(bytes.fromhex("C701C0000101FA")).meaning == (
        "action-response-normal: success, returns other-reason")


@pytest.mark.parametrize(("data", "meaning"), [
    (services.encode_request(services.ActionRequestWithList(
        0xC1, (Method(70, bytes.fromhex("00000F0000FF"), 1), Method(9, bytes.fromhex("00000A0000FF"), 1)),
        ((DataType.INTEGER, 0), (DataType.LONG_UNSIGNED, 1)))), "action-request-with-list: 2 methods"),
    (services.encode_request(services.ActionRequestWithListAndFirstPblock(
        0xC1, (Method(70, bytes.fromhex("00000F0000FF"), 2),), False, 1, b"\x0f")),
     "action-request-with-list-and-first-pblock: 1 methods, block 1, 1 octets"),
    (services.encode_response(services.ActionResponseWithPblock(0xC1, False, 1, b"\x09\x03ab")),
     "action-response-with-pblock: block 1, 4 octets"),
    (services.encode_response(services.ActionResponseWithList(
        0xC1, ((ActionResult.SUCCESS, None), (ActionResult.TYPE_UNMATCHED, b"\x11\x01")))),
     "action-response-with-list: 2 responses"),
    (services.encode_response(services.ActionResponseNextPblock(0xC1, 2)),
     "action-response-next-pblock: block 2 received, send the next"),
])
def test_action_list_and_block_forms(data: bytes, meaning: str) -> None:
    assert clean(data).meaning == meaning


def test_action_request_with_list_names_methods() -> None:
    data = services.encode_request(services.ActionRequestWithList(
        0xC1, (Method(70, bytes.fromhex("00000F0000FF"), 1),), ((DataType.INTEGER, 0),)))
    tree = clean(data)
    assert child(tree, "cosem-method-descriptor-list", "cosem-method-descriptor", "method-id").meaning == (
        "1 remote_disconnect")


# ---------------------------------------------------------------------------
# EXCEPTION-Response and ciphered APDUs


def test_exception_responses() -> None:
    # public-vectors.md 3.8 ([G]); and invocation-counter-error with the counter.
    tree = clean(bytes.fromhex("D80101"))
    assert tree.meaning == "exception-response: service-not-allowed, operation-not-possible"
    tree = clean(bytes.fromhex("D8010600000102"))
    assert child(tree, "invocation-counter").meaning == "258 (the meter's current counter)"


@pytest.mark.parametrize("case", ["authenticated_encryption", "encryption_only"])
def test_glo_get_request_deciphered_with_green_book_keys(case: str) -> None:
    # security.json suite0_gcm; the full APDUs in public-vectors.md 3.1.
    sc = SUITE0[case]["security_control"]
    body = SUITE0[case]["ciphertext"] + SUITE0[case].get("tag", "")
    data = bytes.fromhex(f"C8{len(body) // 2 + 5:02X}{sc}{SUITE0['invocation_counter']}{body}")
    tree = clean(data, Keys(EK, AK if case != "encryption_only" else b"", METER_TITLE))
    control = child(tree, "security-control")
    assert [(f.name, f.meaning) for f in control.children] == [
        ("security-suite", "bits 0-3: suite 0 (AES-GCM-128)"),
        ("authentication", f"bit 4: {'yes' if sc == '30' else 'no'}"),
        ("encryption", "bit 5: yes"), ("key-set", "bit 6: unicast"), ("compression", "bit 7: no")]
    assert child(tree, "invocation-counter").hex == "01234567"
    assert child(tree, "ciphertext").hex == SUITE0[case]["ciphertext"]
    plain = child(tree, "deciphered", "get-request")
    assert plain.hex == SUITE0["plain_apdu"]
    assert plain.meaning == "get-request-normal: 8 Clock 0-0:1.0.0*255 attribute 2 time"
    assert child(plain, "cosem-attribute-descriptor").offset == child(tree, "ciphertext").offset + 3


def test_glo_get_request_authentication_only_is_plain_inside() -> None:
    data = bytes.fromhex("C81E1001234567C0010000080000010000FF020006725D910F9221D263877516")
    tree = clean(data, Keys(EK, AK, METER_TITLE))
    assert child(tree, "get-request").hex == SUITE0["plain_apdu"]
    assert child(tree, "authentication-tag").meaning == "verified with the given keys"
    assert find(tree, "deciphered") == []


def test_ciphered_apdu_without_keys_or_with_wrong_keys() -> None:
    data = bytes.fromhex(SUITE0["authenticated_encryption"]["glo_get_request"])
    tree = clean(data)
    assert child(tree, "authentication-tag").meaning == "not checked: no keys given"
    assert tree.meaning == "glo-get-request (ciphered get-request): encrypted; not checked: no keys given"
    wrong = dissect_apdu(data, Keys(AK, AK, METER_TITLE))
    assert wrong.errors() == ["authentication tag mismatch (keys of system title 4D4D4D0000BC614E)"]
    assert find(wrong, "deciphered") == []
    unknown_title = clean(data, Keys(EK, AK, None))
    assert unknown_title.meaning.endswith("not checked: the sender's system title is not known")


def test_ded_and_general_glo_ciphering() -> None:
    plain = bytes.fromhex(SUITE0["plain_apdu"])
    dedicated = bytes(range(16, 32))
    protected = protect(plain, security_control=0x30, system_title=CLIENT_TITLE, invocation_counter=5,
                        block_cipher_key=dedicated, authentication_key=AK)
    ded = encode_ciphered_apdu(0xD0, protected)
    assert clean(ded, Keys(EK, AK, CLIENT_TITLE)).meaning.endswith("not checked: no dedicated key given")
    tree = clean(ded, Keys(EK, AK, CLIENT_TITLE, dedicated))
    assert tree.name == "ded-get-request"
    assert child(tree, "deciphered", "get-request").hex == plain.hex().upper()
    protected = protect(plain, security_control=0x30, system_title=CLIENT_TITLE, invocation_counter=6,
                        block_cipher_key=EK, authentication_key=AK)
    general = encode_general_ciphering(0xDB, CLIENT_TITLE, protected)
    tree = clean(general, Keys(EK, AK, METER_TITLE))  # the title inside the APDU wins
    assert child(tree, "system-title", "value").meaning.startswith("system title 4D4D4D0000000001")
    content = child(tree, "ciphered-content")
    assert child(content, "invocation-counter").meaning == "6 (0x00000006)"
    assert child(content, "deciphered", "get-request").hex == plain.hex().upper()


def test_notifications_and_general_block_transfer() -> None:
    notification = bytes.fromhex("0F4000000100") + encode_data((DataType.LONG_UNSIGNED, 7))
    tree = clean(notification)
    assert tree.meaning == "data-notification: long-unsigned: 7"
    assert child(tree, "date-time").meaning == "absent"
    assert child(tree, "long-invoke-id-and-priority", "service-class").meaning == "bit 30: confirmed"
    event = bytes.fromhex("C200000800000100" + "00FF02") + encode_data((DataType.BOOLEAN, True))
    tree = clean(event)
    assert tree.meaning == "event-notification-request: 8 Clock 0-0:1.0.0*255 attribute 2 time"
    assert child(tree, "attribute-value").meaning == "boolean: true"
    gbt = bytes.fromhex("E0810001000003C00102")
    assert clean(gbt).meaning == "general-block-transfer: block 1 (last)"


def test_data_types_dates_bits_and_compact_arrays() -> None:
    # public-vectors.md 3.6: date, time, all-unspecified date-time ([T]), compact-arrays ([T] and constructed).
    def value(data_hex: str) -> str:
        return clean(bytes.fromhex("C401C100" + data_hex)).meaning.removeprefix("get-response-normal: ")

    assert value("1A07E80B15FF") == "date: 2024-11-21 (day of week not specified)"
    assert value("1B081E0F17") == "time: 08:30:15.23"
    assert value("19FFFFFFFFFFFFFFFFFF800008") == (
        "date-time: ****-**-**T**:**:**.** (day of week not specified), deviation not specified, "
        "status 0x08 (invalid clock status)")
    assert value("090C07E40101FF00030000FF8800") == (
        "octet-string: 2020-01-01T00:03:00+02:00 (day of week not specified), deviation -120 min (UTC+02:00), "
        "status 0x00 (ok)")
    assert value("040AC040") == "bit-string: '1100000001' (10 bits)"
    assert value("0A03414243") == 'visible-string: "ABC"'
    assert value("0C02C3A9") == 'utf8-string: "é"'
    assert value("0300") == "boolean: false"
    assert value("10FF38") == "long: -200"
    assert value("0D12") == "bcd: 18"
    assert value("1700000000") == "float32: 0.0"
    assert value("0903FFFE00") == "octet-string: FFFE00"
    assert value("0900") == "octet-string: (empty)"
    assert value("00") == "null-data"
    assert value("130F062A2A2A2A2A2A") == "compact-array of 6 elements"
    tree = clean(bytes.fromhex("C401C100130202121109000101000202000303"))
    compact = child(tree, "result", "data")
    assert child(compact, "contents-description").meaning == "structure of 2 members"
    assert [f.hex for f in child(compact, "array-contents").children] == ["000101", "000202", "000303"]
    assert child(compact, "array-contents", "[2]", "[0]").meaning == "long-unsigned: 3"


# ---------------------------------------------------------------------------
# Malformed input: described as far as it goes, never an exception

ALL_APDUS = [  # public-vectors.md 3.1-3.8 (sources named there) and tests/vectors/*.json
    ACSE["ciphered_lls_aarq"]["hex"], ACSE["hls_mech2_aarq"]["hex"],
    ACSE["hls_gmac_aare_authentication_required"]["hex"],
    "611FA109060760857405080101A203020101A305A103020101BE0604040E010601", "6203800100", "6303800100",
    "C001C1000100002B0100FF0200", "C002C100000003", "C003C102000100002A0000FF020000080000010000FF0200",
    "C401C1000600001391", "C401C10101", "C402C101000000130101",
    "C403C10200091049534B3130333037373737363433363600090C07E50603040E091700FFC400",
    "C101C100080000010000FF0200090C07E50118FF0E303950FFC400", "C501C100",
    "C301C1000F0000280000FF0101091110000000011A52FE7DD3E72748973C1E28",
    "C701C10001000911101A9190BC0A587217BCD2BCD4FDDB7143",
    "C3045100010100000300FF020100000001050102030405", "D80101", "C401C100130202121109000101000202000303",
    SUITE0["authenticated_encryption"]["glo_get_request"],
    "C81E1001234567C0010000080000010000FF020006725D910F9221D263877516",
]
ALL_FRAMES = [ACSE["paper_figure4_lls_aarq_wrapped"]["hex"], ACSE["paper_figure4_aare_wrapped"]["hex"]]


@pytest.mark.parametrize("data_hex", ALL_APDUS)
def test_every_truncation_is_an_error_with_the_unparsed_rest(data_hex: str) -> None:
    data = bytes.fromhex(data_hex)
    keys = Keys(EK, AK, METER_TITLE)
    for cut in range(len(data)):
        tree = dissect_apdu(data[:cut], keys)
        assert tree.errors(), cut
        check_offsets(tree, data[:cut])
        unparsed = find(tree, "unparsed")
        assert unparsed and all(f.offset + f.length <= cut for f in unparsed)


@pytest.mark.parametrize("frame_hex", ALL_FRAMES)
def test_every_truncated_frame_is_an_error(frame_hex: str) -> None:
    frame = bytes.fromhex(frame_hex)
    for cut in range(len(frame)):
        tree = dissect_frame(frame[:cut])
        assert tree.errors(), cut
        check_offsets(tree, frame[:cut])


def test_frame_length_mismatches_and_version() -> None:
    good = bytes.fromhex("000100200001000DC001C1000100002B0100FF0200")
    longer = dissect_frame(good + b"\x00\x00")
    assert longer.errors() == ["at byte 21: 2 octets after the 13-octet APDU the wrapper announces"]
    assert child(longer, "unparsed").hex == "0000"
    assert child(longer, "get-request").errors() == []
    short = dissect_frame(good[:6] + b"\x00\x20" + good[8:])
    assert short.errors() == ["at byte 21: the wrapper announces 32 octets of APDU but 13 follow"]
    version = dissect_frame(b"\x00\x02" + good[2:])
    assert version.errors() == ["at byte 0: unsupported wrapper version 0x0002"]
    assert child(version, "unparsed").offset == 2


@pytest.mark.parametrize(("data_hex", "error"), [
    ("", "at byte 0: truncated: APDU tag expected"),
    ("FF00", "at byte 0: unknown APDU tag 0xFF"),
    ("C009C1", "at byte 1: unknown get-request choice 9"),
    ("C401C10042", "at byte 4: unknown Data tag 0x42"),
    ("C401C10163", "at byte 4: unknown data-access-result 99"),
    ("C401C1000600001391AA", "at byte 9: 1 trailing octets after the get-response"),
    ("C401C100018200", "at byte 5: truncated length"),
    ("C401C1000105", "at byte 6: array of 5 elements exceeds the 0 octets left"),
    ("6103A10100", "at byte 4: expected BER tag 0x06, found 0x00"),
    ("0E0108", "at byte 2: unknown ServiceError choice 8"),
    ("D80707", "at byte 1: unknown state-error 7"),
    ("0101", "at byte 2: truncated: length expected"),
    ("0102", "at byte 1: usage flag 0x02 of dedicated-key is neither 00 nor 01"),
    ("6204800100", "at byte 5: BER content of 4 bytes runs past the end"),
    ("6203800200", "at byte 5: BER content of 2 bytes runs past the end"),
    ("C401C100090501", "at byte 6: octet-string of 5 octets exceeds the 1 left"),
    ("C801FF", "at byte 3: truncated: security header expected"),
    ("C8053001234567", "at byte 7: truncated: authentication tag expected"),
])
def test_malformed_apdus_name_where_and_why(data_hex: str, error: str) -> None:
    tree = dissect_apdu(bytes.fromhex(data_hex))
    assert tree.errors() == [error]


TAGS = sorted({0x01, 0x08, 0x0E, 0x0F, 0x21, 0x28, 0x60, 0x61, 0x62, 0x63, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC7,
               0xC8, 0xCC, 0xD0, 0xD8, 0xDB, 0xDC, 0xDD, 0xDF, 0xE0})


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_never_raise(data: bytes) -> None:
    for tree in (dissect_frame(data), dissect_apdu(data, Keys(EK, AK, METER_TITLE))):
        json.dumps(tree.to_json())
        check_offsets(tree, data)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(TAGS), st.integers(0, 8), st.binary(max_size=60))
def test_random_apdu_bodies_never_raise(tag: int, choice: int, body: bytes) -> None:
    data = bytes((tag, choice)) + body
    tree = dissect_apdu(data, Keys(EK, AK, METER_TITLE))
    check_offsets(tree, data)
    frame = encode_wpdu(16, 1, data)
    framed = dissect_frame(frame, Keys(EK, AK, METER_TITLE))
    check_offsets(framed, frame)
    assert len(framed.errors()) == len(tree.errors())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL_APDUS), st.integers(0, 200), st.integers(0, 255))
def test_one_changed_octet_never_raises(data_hex: str, where: int, octet: int) -> None:
    data = bytearray(bytes.fromhex(data_hex))
    data[where % len(data)] = octet
    tree = dissect_apdu(bytes(data), Keys(EK, AK, METER_TITLE))
    check_offsets(tree, bytes(data))


# ---------------------------------------------------------------------------
# Field.to_json and the packet-log record


def test_field_to_json() -> None:
    tree = dissect_apdu(bytes.fromhex("C401C1"))
    document = tree.to_json()
    assert list(document) == ["name", "offset", "length", "hex", "meaning", "children"]
    assert document["children"][-1] == {
        "name": "unparsed", "offset": 3, "length": 0, "hex": "", "meaning": "octets not parsed", "children": [],
        "error": "at byte 3: truncated: Get-Data-Result choice expected"}


def _exchange(**changes: object) -> Exchange:
    request = bytes.fromhex(ACSE["paper_figure4_lls_aarq_wrapped"]["hex"])
    response = bytes.fromhex(ACSE["paper_figure4_aare_wrapped"]["hex"])
    values: dict[str, object] = {
        "sequence": 7, "time_req": 1795500779.07176, "time_res": 1795500779.081, "meter": "abt-0",
        "peer": "192.0.2.9:50123", "local": "127.0.0.1:4059", "client_sap": 32, "server_sap": 1,
        "request": request, "response": response, "request_apdu": request[8:], "response_apdu": response[8:],
        "kind": "aarq", "ciphered": False, "result": "success"}
    values.update(changes)
    return Exchange(**values)  # type: ignore[arg-type]


def test_packet_record_follows_the_contract() -> None:
    record = packet_record(_exchange(), names={CLOCK: "Clock"}.get)
    assert list(record) == ["sequence", "time_req", "time_res", "meter", "peer", "local", "transport", "client_sap",
                            "server_sap",
                            "request", "response", "request_apdu", "response_apdu", "kind", "ciphered",
                            "description_request", "description_response", "result", "scenario"]
    assert record["scenario"] is None and packet_record(_exchange(scenario="storm"))["scenario"] == "storm"
    assert record["time_req"] == "2026-11-24T06:12:59.071760+00:00"
    assert record["time_res"] == "2026-11-24T06:12:59.081000+00:00"
    assert record["request"] == ACSE["paper_figure4_lls_aarq_wrapped"]["hex"]
    assert record["response_apdu"] == ACSE["paper_figure4_aare_wrapped"]["hex"][16:]
    assert (record["meter"], record["peer"], record["local"], record["client_sap"], record["server_sap"]) == (
        "abt-0", "192.0.2.9:50123", "127.0.0.1:4059", 32, 1)
    assert (record["kind"], record["ciphered"], record["result"], record["sequence"]) == ("aarq", False, "success", 7)
    assert record["description_request"]["children"][0]["hex"] == "0001002000010044"
    assert record["description_response"]["children"][1]["name"] == "aare"
    assert json.loads(json.dumps(record)) == record


def test_packet_record_without_descriptions_and_from_the_meters_plain_apdus() -> None:
    record = packet_record(_exchange(), describe=False)
    assert record["description_request"] is None and record["description_response"] is None
    event = packet_record(_exchange(kind="connect", request=b"", response=None, request_apdu=None,
                                    response_apdu=None, time_res=None))
    assert (event["request"], event["response"], event["time_res"]) == ("", None, None)
    assert (event["description_request"], event["description_response"]) == (None, None)
    glo = encode_wpdu(48, 1, bytes.fromhex(SUITE0["authenticated_encryption"]["glo_get_request"]))
    # The exchange carries the APDU as the meter deciphered it: the record shows it, with no keys.
    plain = bytes.fromhex(SUITE0["plain_apdu"])
    record = packet_record(_exchange(request=glo, response=None, request_apdu=plain, ciphered=True))
    glo_tree = record["description_request"]["children"][1]
    tag = next(c for c in glo_tree["children"] if c["name"] == "authentication-tag")
    assert tag["meaning"] == "deciphered by the meter"
    assert [c["name"] for c in glo_tree["children"]][-1] == "deciphered"
    assert glo_tree["children"][-1]["children"][0]["hex"] == SUITE0["plain_apdu"]
    # A request the meter refused keeps its ciphered APDU: nothing is deciphered.
    refused = packet_record(_exchange(request=glo, response=None, request_apdu=glo[8:], ciphered=False))
    refused_tree = refused["description_request"]["children"][1]
    tag = next(c for c in refused_tree["children"] if c["name"] == "authentication-tag")
    assert tag["meaning"].startswith("not deciphered: the meter refused it")
    assert "deciphered" not in [c["name"] for c in refused_tree["children"]]
