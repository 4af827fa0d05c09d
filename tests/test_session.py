"""The association layer, sans-I/O: AARQ checks and their AARE diagnostics
(Green Book 9.3.2), release, requests outside an association, GET with block
transfer, with byte-exact public vectors where they exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlmstw.association.session import ServerProfile, Session
from dlmstw.codec import acse, axdr, services, xdlms
from dlmstw.codec.services import (CosemAttributeDescriptor, GetRequestNext, GetRequestNormal,
                                   GetRequestWithList, GetResponseNormal, GetResponseWithDatablock,
                                   GetResponseWithList, SetRequestNormal, SetResponseNormal)
from dlmstw.codec.obis import parse_obis
from dlmstw.config import parse_lab
from dlmstw.cosem.directory import MeterDirectory, ModelDirectory
from dlmstw.enums import (AcseServiceUserDiagnostic, AssociationResult, Conformance, DataAccessResult,
                          DataType)
from dlmstw.plugins.registry import load_registry
from dlmstw.server.assembly import Meter

VECTORS = Path(__file__).parent / "vectors"
ACSE = json.loads((VECTORS / "acse.json").read_text())
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z

LAB = """
[meters:abt]
model = is15959-abt
load_profile_interval = 15
load_profile_days = 2

[association:public]
client_sap = 16

[association:reader]
client_sap = 32
authentication = lls
lls_password = 12345678
access = read-write
"""


def make_session(client_sap: int, conformance: int = 0x00501F, max_pdu: int = 500) -> Session:
    """A session of the first meter of LAB, its clock fixed at NOW."""
    lab = parse_lab(LAB)
    meter = next(lab.meters())
    registry = load_registry()
    model = ModelDirectory([registry.object_sets["is15959-abt"]], registry.classes, meter.associations,
                           registry.mechanisms, conformance, max_pdu)
    runtime = Meter(meter, registry.object_sets["is15959-abt"], clock=lambda: NOW)
    associations = {a.client_sap: a for a in meter.associations}
    return Session(client_sap, 1, associations.get(client_sap), MeterDirectory(model, runtime),
                   registry, ServerProfile(Conformance(conformance), max_pdu, meter.system_title),
                   runtime.security)


NO_SECURITY_AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0")
NO_SECURITY_AARE = bytes.fromhex("6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007")
LLS_AARQ = bytes.fromhex("6036A1090607608574050801018A0207808B0760857405080201AC0A80083132333435363738"
                         "BE10040E01000000065F1F0400007E1F04B0")


def test_lowest_level_association_matches_the_public_aare() -> None:
    """[U] test_aarq.py / test_aare.py: the server answers with exactly the public AARE."""
    session = make_session(16)
    assert session.receive(NO_SECURITY_AARQ) == (NO_SECURITY_AARE, NO_SECURITY_AARQ, NO_SECURITY_AARE, False, "success")


def test_lls_association_is_accepted_with_the_public_aare() -> None:
    """[C] noOrLowLevelAuthentication: an accepted LLS association gets the same AARE."""
    assert make_session(32).receive(LLS_AARQ).answer == NO_SECURITY_AARE


def test_wrong_lls_password_is_rejected_like_the_real_meter() -> None:
    """[G] dlmsclient/client_test.go: a real L+G meter's answer to a wrong password,
    byte for byte, given that meter's conformance and PDU size."""
    aarq = bytes.fromhex("6036A1090607608574050801018A0207808B0760857405080201AC0A80083030303030303031"
                         "BE10040E01000000065F1F040000181F0100")
    aare = bytes.fromhex("6129A109060760857405080101A203020101A305A10302010DBE10040E0800065F1F040000101400800007")
    assert make_session(32, conformance=0x001014, max_pdu=128).receive(aarq).answer == aare


def test_paper_figure_4_lls_with_calling_ap_title() -> None:
    """The paper's figure 4 exchange (acse.json): the AARE names the meter's system title."""
    wrapped = bytes.fromhex(ACSE["paper_figure4_lls_aarq_wrapped"]["hex"])
    expected = bytes.fromhex(ACSE["paper_figure4_aare_wrapped"]["hex"])
    lab = LAB.replace("lls_password = 12345678", "lls_password = ABCD0001")
    session = make_session(32)
    session.config = next(parse_lab(lab).meters()).associations[1]
    assert session.receive(wrapped[8:]).answer == expected[8:]


@pytest.mark.parametrize(("client_sap", "aarq", "diagnostic"), [
    (16, LLS_AARQ, AcseServiceUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED),
    (32, NO_SECURITY_AARQ, AcseServiceUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_REQUIRED),
    (32, LLS_AARQ.replace(b"12345678", b"12345679"), AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE),
    (16, NO_SECURITY_AARQ.replace(bytes.fromhex("0760857405080101"), bytes.fromhex("0760857405080102")),
     AcseServiceUserDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED),
    (99, NO_SECURITY_AARQ, AcseServiceUserDiagnostic.NO_REASON_GIVEN),
])
def test_rejections_carry_the_diagnostic(client_sap: int, aarq: bytes, diagnostic: int) -> None:
    session = make_session(client_sap)
    aare = acse.decode_aare(session.receive(aarq).answer or b"")
    assert aare.result == AssociationResult.REJECTED_PERMANENT
    assert aare.result_source_diagnostic == (acse.SOURCE_ACSE_SERVICE_USER, diagnostic)
    assert session.receive(bytes.fromhex("C001C1000100002B0100FF0200")).answer == bytes.fromhex("D80101")


def test_bad_dlms_version_is_rejected_with_the_public_aare() -> None:
    """[U] test_aare.py: rejected-permanent, no-reason-given, ConfirmedServiceError
    initiateError / initiate / dlms-version-too-low."""
    aarq = NO_SECURITY_AARQ.replace(bytes.fromhex("065F1F04"), bytes.fromhex("055F1F04"))
    expected = bytes.fromhex("611FA109060760857405080101A203020101A305A103020101BE0604040E010601")
    assert make_session(16).receive(aarq).answer == expected


def test_garbage_aarq_gets_an_aare_not_an_exception() -> None:
    aare = acse.decode_aare(make_session(16).receive(bytes.fromhex("6005A10306")).answer or b"")
    assert aare.result == AssociationResult.REJECTED_PERMANENT


def test_no_data_before_association_and_after_release() -> None:
    session = make_session(16)
    get_serial = services.encode_request(GetRequestNormal(
        0xC1, CosemAttributeDescriptor(1, bytes((0, 0, 96, 1, 0, 255)), 2), None))
    assert session.receive(get_serial).answer == bytes.fromhex("D80101")
    session.receive(NO_SECURITY_AARQ).answer
    answer = services.decode_response(session.receive(get_serial).answer or b"")
    assert answer == GetResponseNormal(0xC1, axdr.encode_data((DataType.OCTET_STRING, b"1000001")))
    assert session.receive(bytes.fromhex("6203800100")).answer == bytes.fromhex("6303800100")
    assert session.receive(get_serial).answer == bytes.fromhex("D80101")


def associated(client_sap: int = 16, max_pdu: int = 0x04B0) -> Session:
    session = make_session(client_sap, conformance=0x00FFFF)
    request = xdlms.InitiateRequest(None, True, None, 6, Conformance(0x00FFFF), max_pdu)
    aarq = acse.AARQ(application_context_name=1, user_information=xdlms.encode_initiate_request(request))
    assert acse.decode_aare(session.receive(acse.encode_aarq(aarq)).answer or b"").result == 0
    return session


def get(session: Session, request: object) -> object:
    return services.decode_response(session.receive(services.encode_request(request)).answer or b"")


def test_get_errors_follow_the_blue_book() -> None:
    session = associated()
    clock = bytes((0, 0, 1, 0, 0, 255))
    assert get(session, GetRequestNormal(0xC1, CosemAttributeDescriptor(8, bytes(6), 2), None)) == \
        GetResponseNormal(0xC1, DataAccessResult.OBJECT_UNDEFINED)
    assert get(session, GetRequestNormal(0xC1, CosemAttributeDescriptor(3, clock, 2), None)) == \
        GetResponseNormal(0xC1, DataAccessResult.OBJECT_CLASS_INCONSISTENT)
    assert get(session, GetRequestNormal(0xC1, CosemAttributeDescriptor(8, clock, 42), None)) == \
        GetResponseNormal(0xC1, DataAccessResult.OBJECT_UNDEFINED)
    secret = CosemAttributeDescriptor(15, bytes((0, 0, 40, 0, 0, 255)), 7)
    assert get(session, GetRequestNormal(0xC1, secret, None)) == \
        GetResponseNormal(0xC1, DataAccessResult.READ_WRITE_DENIED)


def test_clock_reads_the_meter_time() -> None:
    response = get(associated(), GetRequestNormal(
        0xC1, CosemAttributeDescriptor(8, bytes((0, 0, 1, 0, 0, 255)), 2), None))
    assert isinstance(response, GetResponseNormal)
    value, _ = axdr.decode_data(response.result)  # type: ignore[arg-type]
    assert value[0] == DataType.OCTET_STRING
    assert axdr.CosemDateTime.from_bytes(value[1]).to_datetime().timestamp() == NOW


def test_block_transfer_gives_the_same_bytes_as_one_pdu() -> None:
    """A profile read in 64-byte PDUs reassembles to the answer read in one."""
    profile = CosemAttributeDescriptor(7, bytes((1, 0, 99, 1, 0, 255)), 2)
    whole = get(associated(max_pdu=0xFFFF), GetRequestNormal(0xC1, profile, None))
    assert isinstance(whole, GetResponseNormal) and isinstance(whole.result, bytes)
    rows, _ = axdr.decode_data(whole.result)
    assert len(rows[1]) == 2 * 96
    session = associated(max_pdu=64)
    response = get(session, GetRequestNormal(0xC1, profile, None))
    gathered = b""
    while True:
        assert isinstance(response, GetResponseWithDatablock)
        assert isinstance(response.raw_data, bytes)
        assert len(services.encode_response(response)) <= 64
        gathered += response.raw_data
        if response.last_block:
            break
        response = get(session, GetRequestNext(0xC1, response.block_number))
    assert gathered == whole.result


def test_wrong_block_number_aborts_the_long_get() -> None:
    session = associated(max_pdu=64)
    profile = CosemAttributeDescriptor(7, bytes((1, 0, 99, 1, 0, 255)), 2)
    first = get(session, GetRequestNormal(0xC1, profile, None))
    assert isinstance(first, GetResponseWithDatablock) and first.block_number == 1
    assert get(session, GetRequestNext(0xC1, 5)) == GetResponseWithDatablock(
        0xC1, True, 5, DataAccessResult.DATA_BLOCK_NUMBER_INVALID)
    assert get(session, GetRequestNext(0xC1, 1)) == GetResponseWithDatablock(
        0xC1, True, 1, DataAccessResult.NO_LONG_GET_IN_PROGRESS)


def test_get_with_list_mixes_values_and_errors() -> None:
    session = associated()
    items = ((CosemAttributeDescriptor(1, bytes((0, 0, 96, 1, 0, 255)), 2), None),
             (CosemAttributeDescriptor(1, bytes((9, 9, 9, 9, 9, 9)), 2), None))
    response = get(session, GetRequestWithList(0xC1, items))
    assert response == GetResponseWithList(0xC1, (
        axdr.encode_data((DataType.OCTET_STRING, b"1000001")), DataAccessResult.OBJECT_UNDEFINED))


def test_services_outside_the_negotiated_conformance_are_refused() -> None:
    session = make_session(16, conformance=int(Conformance.GET))
    session.receive(NO_SECURITY_AARQ).answer
    set_clock = bytes.fromhex("C101C100080000010000FF0200090C07E50118FF0E303950FFC400")
    assert session.receive(set_clock).answer == bytes.fromhex("D80102")



def test_lls_secret_change_applies_from_the_next_association() -> None:
    """Association LN attribute 7 (Blue Book 4.4.4): a new LLS password."""
    session = make_session(32)
    assert session.receive(LLS_AARQ).answer == NO_SECURITY_AARE
    secret = CosemAttributeDescriptor(15, bytes((0, 0, 40, 0, 2, 255)), 7)
    answer = services.decode_response(session.receive(services.encode_request(
        SetRequestNormal(0xC1, secret, None, (DataType.OCTET_STRING, b"87654321")))).answer or b"")
    assert answer == SetResponseNormal(0xC1, DataAccessResult.SUCCESS)
    fresh = Session(32, 1, session.config, session.core.directory, session.plugins, session.profile,
                    session.security)
    refused = acse.decode_aare(fresh.receive(LLS_AARQ).answer or b"")
    assert refused.result_source_diagnostic == (acse.SOURCE_ACSE_SERVICE_USER,
                                                AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE)
    assert fresh.receive(LLS_AARQ.replace(b"12345678", b"87654321")).answer == NO_SECURITY_AARE
    assert session.security.state()["keys"] == {"reader": {"lls_password": b"87654321".hex()}}


def test_get_with_list_answer_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """One request cannot make the meter build an answer of any size."""
    monkeypatch.setattr("dlmstw.association.services.MAX_LIST_ANSWER", 1000)
    session = associated(max_pdu=0xFFFF)
    profile = (CosemAttributeDescriptor(7, bytes((1, 0, 99, 1, 0, 255)), 2), None)
    response = get(session, GetRequestWithList(0xC1, (profile, profile, profile)))
    assert isinstance(response, GetResponseWithList)
    assert isinstance(response.results[0], bytes)
    assert response.results[1:] == (DataAccessResult.TEMPORARY_FAILURE, DataAccessResult.TEMPORARY_FAILURE)


def test_a_refused_new_aarq_ends_the_current_association() -> None:
    session = make_session(32)
    assert session.receive(LLS_AARQ).answer == NO_SECURITY_AARE
    session.receive(LLS_AARQ.replace(b"12345678", b"00000000")).answer
    assert session.receive(bytes.fromhex("C001C1000100002B0100FF0200")).answer == bytes.fromhex("D80101")


@pytest.mark.parametrize("max_pdu", [0x04B0, 64])
def test_the_get_hot_path_answers_as_the_decoded_path_does(max_pdu: int) -> None:
    """A GET-Request-Normal without selective access takes the resolved-reader
    path; its answers equal ``get_normal``'s for every kind of attribute: a
    value, a long value in blocks, a profile buffer, undefined objects and
    attributes, a wrong class, an attribute the association may not read."""
    targets = [(8, "0.0.1.0.0.255", 2), (3, "1.0.1.7.0.255", 2), (3, "1.0.1.7.0.255", 3), (1, "0.0.96.1.0.255", 2),
               (15, "0.0.40.0.0.255", 2), (7, "1.0.99.1.0.255", 3), (7, "1.0.99.1.0.255", 2),
               (1, "9.9.9.9.9.9", 2), (3, "0.0.1.0.0.255", 2), (8, "0.0.1.0.0.255", 99), (15, "0.0.40.0.0.255", 7)]
    fast, decoded = associated(16, max_pdu), associated(16, max_pdu)
    handler = decoded.core.current.services  # type: ignore[union-attr]
    for class_id, obis, attribute in targets:
        request = GetRequestNormal(0xC1, CosemAttributeDescriptor(class_id, parse_obis(obis), attribute), None)
        apdu = services.encode_request(request)
        for _ in range(2):  # resolved once, then from the cache
            assert fast.receive(apdu).answer == handler.get_normal(request), (class_id, obis, attribute)
    assert len(fast.core.current.services.readers) == len(targets)  # type: ignore[union-attr]


def test_an_association_resolves_a_bounded_number_of_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dlmstw.association.services.MAX_READERS", 2)
    session = associated()
    for attribute in (1, 2, 3):
        request = GetRequestNormal(0xC1, CosemAttributeDescriptor(3, parse_obis("1.0.1.7.0.255"), attribute), None)
        answer = services.decode_response(session.receive(services.encode_request(request)).answer or b"")
        assert isinstance(answer, GetResponseNormal) and not isinstance(answer.result, DataAccessResult)
    assert len(session.core.current.services.readers) == 2  # type: ignore[union-attr]
