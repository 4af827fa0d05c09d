"""Result names (DESIGN.md "Result names"): the naming of the meter's answers
(GET/SET/ACTION normal, with-list and block forms, EXCEPTION-Response, AARE,
RLRE; Green Book 9.3, 9.5), the results sessions record, the one series per
result of /metrics, and, end to end with gurux-dlms over TCP, the packet log
and /metrics of a running lab."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gurux_dlms import GXDLMSException
from gurux_dlms.objects import GXDLMSData
from interop_support import Lab, MeterSession, find_free_port_range, launch_lab, stop_lab
from test_session import LLS_AARQ, NO_SECURITY_AARQ, associated, make_session

from dlmstw.association.session import Outcome
from dlmstw.codec import acse, services, xdlms
from dlmstw.codec.results import list_result, response_result
from dlmstw.codec.services import (
    ActionRequestNormal,
    ActionResponseNextPblock,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithPblock,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    ExceptionResponse,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDatablock,
    GetResponseWithList,
    SetRequestNormal,
    SetResponseDatablock,
    SetResponseLastDatablock,
    SetResponseLastDatablockWithList,
    SetResponseNormal,
    SetResponseWithList,
)
from dlmstw.config import parse_lab
from dlmstw.enums import (
    DATA_ACCESS_RESULT_NAMES,
    AcseServiceProviderDiagnostic,
    AcseServiceUserDiagnostic,
    ActionResult,
    AssociationResult,
    Conformance,
    DataAccessResult,
    DataType,
    ServiceError,
    StateError,
    enum_name,
)
from dlmstw.errors import DecodeError
from dlmstw.security.ciphering import encode_ciphered_apdu, protect
from dlmstw.server.service import LabService
from dlmstw.web.console import prometheus_lines

DAR = DataAccessResult
DATA = bytes.fromhex("0906") + b"100001"  # octet-string "100001"
CLOCK = CosemAttributeDescriptor(8, bytes((0, 0, 1, 0, 0, 255)), 2)
UNDEFINED = CosemAttributeDescriptor(1, bytes((0, 0, 96, 99, 99, 255)), 2)
PROFILE = CosemAttributeDescriptor(7, bytes((1, 0, 99, 1, 0, 255)), 2)


# ---------------------------------------------------------------------------
# The naming function over the answers' forms


@pytest.mark.parametrize("result", list(DAR))
def test_get_normal_names_its_data_access_result(result: DataAccessResult) -> None:
    answer = services.encode_response(GetResponseNormal(0xC1, result))
    assert response_result(answer) == DATA_ACCESS_RESULT_NAMES[result] == enum_name(result)


def test_public_get_answers() -> None:
    """public-vectors.md 3.4 / test_interop_core: data, and object-undefined (C401C10104)."""
    assert response_result(bytes.fromhex("C401C1000500000225")) == "success"
    assert response_result(bytes.fromhex("C401C10104")) == "object-undefined"
    assert response_result(bytes.fromhex("D80101")) == "exception-response:service-not-allowed/operation-not-possible"


@pytest.mark.parametrize(("response", "name"), [
    (GetResponseWithDatablock(0xC1, False, 1, b"\x01\x02\x03"), "success"),
    (GetResponseWithDatablock(0xC1, True, 7, b""), "success"),
    (GetResponseWithDatablock(0xC1, True, 5, DAR.DATA_BLOCK_NUMBER_INVALID), "data-block-number-invalid"),
    (GetResponseWithDatablock(0xC1, True, 2, DAR.NO_LONG_GET_IN_PROGRESS), "no-long-get-in-progress"),
    (GetResponseWithDatablock(0xC1, True, 3, DAR.OTHER_REASON), "other-reason"),
    (GetResponseWithList(0xC1, (DATA, DATA)), "success"),
    (GetResponseWithList(0xC1, (DATA, DAR.OBJECT_UNDEFINED)), "partial"),
    (GetResponseWithList(0xC1, (DAR.OBJECT_UNDEFINED, DAR.OBJECT_UNDEFINED)), "object-undefined"),
    (GetResponseWithList(0xC1, (DAR.OBJECT_UNDEFINED, DAR.READ_WRITE_DENIED)), "partial"),
    (SetResponseNormal(0xC1, DAR.SUCCESS), "success"),
    (SetResponseNormal(0xC1, DAR.TYPE_UNMATCHED), "type-unmatched"),
    (SetResponseDatablock(0xC1, 4), "success"),
    (SetResponseLastDatablock(0xC1, DAR.SUCCESS, 5), "success"),
    (SetResponseLastDatablock(0xC1, DAR.NO_LONG_SET_IN_PROGRESS, 5), "no-long-set-in-progress"),
    (SetResponseLastDatablockWithList(0xC1, (DAR.SUCCESS, DAR.SUCCESS), 2), "success"),
    (SetResponseLastDatablockWithList(0xC1, (DAR.SUCCESS, DAR.TYPE_UNMATCHED), 2), "partial"),
    (SetResponseWithList(0xC1, (DAR.SUCCESS,)), "success"),
    (SetResponseWithList(0xC1, (DAR.READ_WRITE_DENIED, DAR.READ_WRITE_DENIED)), "read-write-denied"),
    (SetResponseWithList(0xC1, (DAR.READ_WRITE_DENIED, DAR.SUCCESS)), "partial"),
    (ActionResponseNormal(0xC1, ActionResult.SUCCESS, None), "success"),
    (ActionResponseNormal(0xC1, ActionResult.SUCCESS, DATA), "success"),
    (ActionResponseNormal(0xC1, ActionResult.SCOPE_OF_ACCESS_VIOLATED, None), "scope-of-access-violated"),
    (ActionResponseNormal(0xC1, ActionResult.LONG_ACTION_ABORTED, None), "long-action-aborted"),
    (ActionResponseNormal(0xC1, ActionResult.NO_LONG_ACTION_IN_PROGRESS, None), "no-long-action-in-progress"),
    (ActionResponseWithPblock(0xC1, False, 1, b"\x00" * 8), "success"),
    (ActionResponseNextPblock(0xC1, 1), "success"),
    (ActionResponseWithList(0xC1, ((ActionResult.SUCCESS, None), (ActionResult.SUCCESS, DATA))), "success"),
    (ActionResponseWithList(0xC1, ((ActionResult.TEMPORARY_FAILURE, None),) * 2), "temporary-failure"),
    (ActionResponseWithList(0xC1, ((ActionResult.SUCCESS, None), (ActionResult.HARDWARE_FAULT, None))), "partial"),
])
def test_service_answers(response: object, name: str) -> None:
    assert response_result(services.encode_response(response)) == name  # type: ignore[arg-type]


@pytest.mark.parametrize("state", list(StateError))
@pytest.mark.parametrize("error", [e for e in ServiceError if e != ServiceError.INVOCATION_COUNTER_ERROR])
def test_exception_responses(state: StateError, error: ServiceError) -> None:
    answer = services.encode_response(ExceptionResponse(state, error))
    assert response_result(answer) == f"exception-response:{enum_name(state)}/{enum_name(error)}"


def test_invocation_counter_error_has_its_own_name() -> None:
    answer = services.encode_response(ExceptionResponse(
        StateError.SERVICE_NOT_ALLOWED, ServiceError.INVOCATION_COUNTER_ERROR, 1234))
    assert response_result(answer) == "invocation-counter-error"


def aare(result: AssociationResult, source: int, diagnostic: int) -> bytes:
    return acse.encode_aare(acse.AARE(1, result, (source, diagnostic)))


USER, PROVIDER = acse.SOURCE_ACSE_SERVICE_USER, acse.SOURCE_ACSE_SERVICE_PROVIDER
REFUSALS = [d for d in AcseServiceUserDiagnostic
            if d not in (AcseServiceUserDiagnostic.NULL, AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED)]


@pytest.mark.parametrize("diagnostic", REFUSALS)
def test_aare_rejections_name_their_diagnostic(diagnostic: AcseServiceUserDiagnostic) -> None:
    assert response_result(aare(AssociationResult.REJECTED_PERMANENT, USER, diagnostic)) == enum_name(diagnostic)


@pytest.mark.parametrize(("answer", "name"), [
    (aare(AssociationResult.ACCEPTED, USER, AcseServiceUserDiagnostic.NULL), "success"),
    (aare(AssociationResult.ACCEPTED, USER, AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED),
     "authentication-required"),
    (aare(AssociationResult.REJECTED_PERMANENT, USER, AcseServiceUserDiagnostic.CALLING_AP_TITLE_NOT_RECOGNIZED),
     "calling-ap-title-not-recognized"),
    (aare(AssociationResult.REJECTED_TRANSIENT, PROVIDER, AcseServiceProviderDiagnostic.NO_COMMON_ACSE_VERSION),
     "no-common-acse-version"),
    (aare(AssociationResult.REJECTED_PERMANENT, PROVIDER, AcseServiceProviderDiagnostic.NO_REASON_GIVEN),
     "no-reason-given"),
    (aare(AssociationResult.REJECTED_PERMANENT, USER, AcseServiceUserDiagnostic.NULL), "no-reason-given"),
    # test_session: a real L+G meter's AARE to a wrong LLS password ([G] dlmsclient/client_test.go).
    (bytes.fromhex("6129A109060760857405080101A203020101A305A10302010DBE10040E0800065F1F040000101400800007"),
     "authentication-failure"),
    (bytes.fromhex("6303800100"), "released"),
])
def test_association_answers(answer: bytes, name: str) -> None:
    assert response_result(answer) == name


@pytest.mark.parametrize("apdu", [
    b"", bytes.fromhex("C001C1000100002B0100FF0200"), bytes.fromhex("C401C1"), bytes.fromhex("C401C101FE"),
    bytes.fromhex("D801"), bytes.fromhex("0E0106"),
])
def test_what_is_not_an_answer_is_a_decode_error(apdu: bytes) -> None:
    with pytest.raises(DecodeError):
        response_result(apdu)


def test_list_result() -> None:
    names = DATA_ACCESS_RESULT_NAMES
    assert list_result([], names) == "success"
    assert list_result([0, 0], names) == "success"
    assert list_result([4], names) == list_result([4, 4], names) == "object-undefined"
    assert list_result([4, 0], names) == list_result([4, 3], names) == "partial"


# ---------------------------------------------------------------------------
# What sessions record


def outcome(session: Any, request: object) -> Outcome:
    return session.receive(services.encode_request(request))


def answer(session: Any, request: object) -> bytes:
    return outcome(session, request).answer or b""


def test_session_results_of_the_association() -> None:
    session = make_session(16)
    assert outcome(session, GetRequestNormal(0xC1, CLOCK, None)).result == "exception-response:service-not-allowed/operation-not-possible"
    assert session.receive(NO_SECURITY_AARQ).result == "success"
    assert session.receive(bytes.fromhex("6203800100")).result == "released"
    assert session.receive(bytes.fromhex("6005A10306")).result == "malformed"
    unknown_client = make_session(99)
    assert unknown_client.receive(NO_SECURITY_AARQ).result == "no-reason-given"
    reader = make_session(32)
    assert reader.receive(LLS_AARQ.replace(b"12345678", b"12345679")).result == "authentication-failure"
    assert reader.receive(NO_SECURITY_AARQ).result == "authentication-mechanism-name-required"


def test_session_results_of_services() -> None:
    session = associated()
    assert outcome(session, GetRequestNormal(0xC1, CLOCK, None)).result == "success"
    assert outcome(session, GetRequestNormal(0xC1, UNDEFINED, None)).result == "object-undefined"
    assert outcome(session, GetRequestWithList(0xC1, ((CLOCK, None), (UNDEFINED, None)))).result == "partial"
    assert outcome(session, GetRequestWithList(0xC1, ((UNDEFINED, None), (UNDEFINED, None)))).result == "object-undefined"
    assert outcome(session, SetRequestNormal(0xC1, UNDEFINED, None, (DataType.OCTET_STRING, b"x"))).result == "object-undefined"
    assert outcome(session, ActionRequestNormal(0xC1, CosemMethodDescriptor(15, bytes(6), 1), None)).result == "object-undefined"
    assert outcome(session, GetRequestNext(0xC1, 1)).result == "no-long-get-in-progress"
    assert session.receive(bytes.fromhex("C0FF")).result == "exception-response:service-not-allowed/other-reason"


def test_session_results_of_block_transfer() -> None:
    session = associated(max_pdu=64)
    long_get = outcome(session, GetRequestNormal(0xC1, PROFILE, None))
    first = services.decode_response(long_get.answer or b"")
    assert isinstance(first, GetResponseWithDatablock) and long_get.result == "success"
    assert outcome(session, GetRequestNext(0xC1, first.block_number)).result == "success"
    assert outcome(session, GetRequestNext(0xC1, 99)).result == "data-block-number-invalid"


AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
CIPHERED_LAB = f"""
[meters:abt]
model = is15959-abt
load_profile_days = 1

[association:utility]
client_sap = 48
context = ln-ciphered
security = authenticated-encryption
authentication_key = {AK.hex()}
block_cipher_key = {EK.hex()}
"""


def sealed(plain: bytes, counter: int) -> bytes:
    """glo-initiate-request or glo-get-request, authenticated and encrypted (Green Book 9.2.7.2)."""
    protected = protect(plain, security_control=0x30, system_title=CLIENT_TITLE, invocation_counter=counter,
                        block_cipher_key=EK, authentication_key=AK)
    return encode_ciphered_apdu({0x01: 0x21, 0xC0: 0xC8}[plain[0]], protected)


def test_session_results_of_protection() -> None:
    """A replayed counter is invocation-counter-error, with the lowest counter the
    meter accepts; a tampered APDU a deciphering-error; a plain one where the
    policy asks for protection an exception-response; a replayed counter in the
    AARQ invocation-counter-error, a key that does not decipher no-reason-given."""
    session = make_session(48)
    session.config = next(parse_lab(CIPHERED_LAB).meters()).associations[0]
    initiate = xdlms.encode_initiate_request(xdlms.InitiateRequest(None, True, None, 6, Conformance(0x00501F), 1024))

    def associate(user_information: bytes) -> Outcome:
        return session.receive(acse.encode_aarq(acse.AARQ(application_context_name=3, calling_ap_title=CLIENT_TITLE,
                                                          user_information=user_information)))

    assert associate(sealed(initiate, 1)).result == "success"
    get_clock = services.encode_request(GetRequestNormal(0xC1, CLOCK, None))
    session.receive(sealed(get_clock, 2)).answer
    # state-error service-not-allowed, service-error invocation-counter-error: 3 (2 was the last accepted)
    replayed = session.receive(sealed(get_clock, 2))
    assert replayed.answer == bytes.fromhex("D8 01 06 00000003") and replayed.result == "invocation-counter-error"
    tampered = bytearray(sealed(get_clock, 3))
    tampered[-1] ^= 1
    assert session.receive(bytes(tampered)).result == "exception-response:service-not-allowed/deciphering-error"
    assert session.receive(get_clock).result == "exception-response:service-not-allowed/operation-not-possible"
    assert associate(sealed(initiate, 2)).result == "invocation-counter-error"
    tampered = bytearray(sealed(initiate, 9))
    tampered[-1] ^= 1
    assert associate(bytes(tampered)).result == "no-reason-given"


# ---------------------------------------------------------------------------
# /metrics: one series per result, over all meters

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"\})? \d+$')


def metrics_text(factories: dict[str, Any]) -> str:
    """/metrics of a lab of ``factories``, summed as one process's ``LabService`` sums them."""
    totals = {"captured": 7, "capture_dropped": 0, "worker_restarts": 0}
    lab = SimpleNamespace(factories=factories)
    lab.totals = lambda: LabService.totals(lab)  # type: ignore[arg-type]
    console = SimpleNamespace(totals=lambda: totals, packet_log=None, lab=lab)
    return "".join(prometheus_lines(console))  # type: ignore[arg-type]


def test_metrics_sum_results_over_100000_meters_in_few_series() -> None:
    results = ["success", "object-undefined", "accepted", "closed", "authentication-failure"]
    factories = {f"m-{i}": SimpleNamespace(connections=i % 2, counters={results[i % 5]: 2, "released": 1})
                 for i in range(100_000)}
    text = metrics_text(factories)
    lines = text.splitlines()
    samples = [line for line in lines if not line.startswith("#")]
    assert len(samples) < 1000 and "meter=" not in text
    assert all(SAMPLE.match(line) for line in samples), [line for line in samples if not SAMPLE.match(line)]
    assert "dlmstw_clients 50000" in samples
    assert 'dlmstw_exchanges_total{result="success"} 40000' in samples
    assert 'dlmstw_exchanges_total{result="released"} 100000' in samples
    assert 'dlmstw_exchanges_total{result="object-undefined"} 40000' in samples
    families = {line.split("{")[0].split(" ")[0] for line in samples}
    for family in families:
        assert lines.count(f"# TYPE {family} counter") + lines.count(f"# TYPE {family} gauge") == 1
        assert sum(line.startswith(f"# HELP {family} ") for line in lines) == 1


def test_metrics_escape_label_values() -> None:
    text = metrics_text({"m": SimpleNamespace(connections=0, counters={'odd "name"\\\n': 1})})
    assert 'dlmstw_exchanges_total{result="odd \\"name\\"\\\\\\n"} 1' in text.splitlines()


# ---------------------------------------------------------------------------
# End to end: gurux-dlms over TCP, the packet log and /metrics of a running lab


def results_ini(meter_port: int, console_port: int, directory: Path) -> str:
    return (f"[simulator]\nconsole = tcp:{console_port}:interface=127.0.0.1\n"
            f"state_dir = {directory / 'state'}\npacket_log = {directory / 'packets.jsonl'}\n\n"
            f"[meters:abt]\ncount = 1\nport = {meter_port}\nload_profile_days = 1\n\n"
            "[association:public]\nclient_sap = 16\n\n"
            "[association:reader]\nclient_sap = 32\nauthentication = lls\nlls_password = ABCD0001\n")


@pytest.fixture(scope="module")
def results_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, int]]:
    directory = tmp_path_factory.mktemp("results")
    meter_port = find_free_port_range(2)
    console_port = meter_port + 1
    lab = launch_lab(directory, results_ini(meter_port, console_port, directory), (meter_port, console_port))
    try:
        yield lab, console_port
    finally:
        stop_lab(lab)


def logged(lab: Lab, kind: str, result: str) -> list[dict[str, Any]]:
    """The packet log's records of that kind and result, waiting up to 10 s for one."""
    path = lab.directory / "packets.jsonl"
    deadline = time.monotonic() + 10
    while True:
        text = path.read_text() if path.exists() else ""
        # Whole lines only: the writer may be in the middle of the last one.
        lines = text[:text.rfind("\n") + 1].splitlines()
        records = [r for r in map(json.loads, lines) if (r["kind"], r["result"]) == (kind, result)]
        if records or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def metrics(console_port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{console_port}/metrics", timeout=10) as response:
        return response.read().decode().splitlines()


def test_undefined_object_is_logged_and_counted_as_object_undefined(results_lab: tuple[Lab, int]) -> None:
    lab, console_port = results_lab
    with MeterSession(lab.ports[0]) as session, pytest.raises(GXDLMSException):
        session.read_raw(GXDLMSData("0.0.96.99.99.255"), 2)
    records = logged(lab, "get-request-normal", "object-undefined")
    assert len(records) == 1, lab.log_text()
    assert records[0]["response_apdu"].upper().endswith("0104") and records[0]["client_sap"] == 16
    assert 'dlmstw_exchanges_total{result="object-undefined"} 1' in metrics(console_port)


def test_wrong_lls_password_is_logged_and_counted_as_authentication_failure(results_lab: tuple[Lab, int]) -> None:
    lab, console_port = results_lab
    session = MeterSession(lab.ports[0], 32, "WRONGPWD")
    try:
        with pytest.raises(GXDLMSException):
            session.associate()
    finally:
        session.close()
    records = logged(lab, "aarq", "authentication-failure")
    assert len(records) == 1 and records[0]["client_sap"] == 32, lab.log_text()
    samples = metrics(console_port)
    assert 'dlmstw_exchanges_total{result="authentication-failure"} 1' in samples
    assert not any("meter=" in line for line in samples)
