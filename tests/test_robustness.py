"""Bad input never escapes as an exception: any bytes given to a session, in
any state, get an answer (an AARE, an exception-response, a data-access-result)
or none; and any byte stream given to a meter's connection either is answered
or closes that connection only."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlmstw.codec import acse, xdlms
from dlmstw.enums import Conformance
from dlmstw.framing.wrapper import encode_wpdu
from test_server import AARQ, CLOCK, connect, factory
from test_session import LLS_AARQ, NO_SECURITY_AARQ, make_session

TAGS = [0x60, 0x62, 0xC0, 0xC1, 0xC3, 0xC8, 0xCB, 0xD0, 0xDB, 0x01, 0x21, 0xE0, 0xD8, 0x00, 0xFF]
apdus = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from(TAGS), st.binary(max_size=300)).map(lambda t: bytes([t[0]]) + t[1]),
    st.tuples(st.sampled_from([NO_SECURITY_AARQ, LLS_AARQ]), st.integers(0, 60), st.binary(max_size=8)).map(
        lambda t: t[0][:t[1]] + t[2] + t[0][t[1]:]),
    st.tuples(st.sampled_from([bytes.fromhex("C001C100080000010000FF0200"),
                               bytes.fromhex("C101C100080000010000FF0200090C07E50118FF0E303950FFC400"),
                               bytes.fromhex("C301C1000F0000280000FF0101091110000000011A52FE7DD3E72748973C1E28"),
                               bytes.fromhex("C002C100000001"),
                               bytes.fromhex("C003C102000100002A0000FF020000080000010000FF0200")]),
              st.integers(0, 40), st.integers(0, 255)).map(
        lambda t: t[0][:t[1]] + bytes([t[2]]) + t[0][t[1] + 1:]),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(apdus, min_size=1, max_size=6), st.sampled_from([None, 16, 32]))
def test_sessions_answer_any_bytes(sequence: list[bytes], associate_as: int | None) -> None:
    session = make_session(associate_as or 16)
    if associate_as == 16:
        session.receive(acse.encode_aarq(acse.AARQ(
            application_context_name=1, user_information=xdlms.encode_initiate_request(
                xdlms.InitiateRequest(None, True, None, 6, Conformance(0x00FFFF), 256))))).answer
    elif associate_as == 32:
        session.receive(LLS_AARQ).answer
    for apdu in sequence:
        answer = session.receive(apdu).answer
        assert answer is None or isinstance(answer, bytes)


@FUZZ
@given(st.lists(st.one_of(st.binary(max_size=64), apdus.map(lambda a: encode_wpdu(16, 1, a))), max_size=6))
def test_connections_answer_or_close_on_any_stream(chunks: list[bytes]) -> None:
    meter = factory()
    results: list[str] = []
    meter.capture.subscribe(lambda exchange: results.append(exchange.result))
    protocol, transport = connect(meter)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ))
    for chunk in chunks:
        protocol.dataReceived(chunk)
    CLOCK.advance(0)
    assert "internal-error" not in results
    other, other_transport = connect(meter, port=50100)
    other.dataReceived(encode_wpdu(16, 1, AARQ))
    assert other_transport.value()[8] == 0x61
