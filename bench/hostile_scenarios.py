"""What ``hostile.py`` sends: the scenarios of a half-finished head-end.

A scenario is a generator. It yields ``Send`` steps (bytes for the wire and
how long to wait for an answer) and receives, for each, the answer frames
that came (whole WPDUs, header included; empty when the wait ran out). The
sender loop (``hostile_sender.py``) ends the scenario early when the meter
closes the connection. Valid requests are built with the project's own
client codecs, the HLS-GMAC association and its ciphered requests by
gurux-dlms (a test dependency, only called); every scenario then breaks
something on purpose (IEC 62056-47 wrapper, Green Book 9.4 ACSE and xDLMS,
9.2.7 ciphering).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import random
import struct
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass

from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.enums import Authentication as GuruxAuthentication, InterfaceType, Security
from gurux_dlms.objects import GXDLMSClock
from gurux_dlms.secure import GXDLMSSecureClient

from dlmstw.client.reading import range_access
from dlmstw.client.session import PROPOSED_CONFORMANCE
from dlmstw.codec import acse, ber, xdlms
from dlmstw.codec.axdr import CosemDateTime, encode_data, encode_octet_string
from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import (ActionRequestNextPblock, ActionRequestWithFirstPblock, ActionRequestWithPblock,
                                   CosemAttributeDescriptor, CosemMethodDescriptor, GetRequestNext,
                                   GetRequestNormal, GetRequestWithList, GetResponseWithDatablock, SelectiveAccess,
                                   SetRequestWithDatablock, SetRequestWithFirstDatablock, decode_response,
                                   encode_request)
from dlmstw.enums import ApduTag, ApplicationContextName, AuthenticationMechanism, DataType
from dlmstw.errors import DecodeError
from dlmstw.security.ciphering import (DEDICATED_CIPHERED_TAG, GLOBAL_CIPHERED_TAG, TAG_LENGTH,
                                       decode_ciphered_apdu, encode_ciphered_apdu, encode_general_ciphering)
from harness import HEADER_SIZE, METER_WPORT, WRAPPER, wrap

#: Seconds a well-formed request has for its answer: a meter that lets it pass is stuck.
ANSWER_WAIT = 10.0
#: Seconds to wait for the answer to a mutated frame, which the meter may rightly ignore.
PROBE_WAIT = 1.0
#: Seconds a client stays silent after an incomplete frame before it leaves.
SILENCE_WAIT = 0.5
INVOKE_ID_AND_PRIORITY = 0xC1
#: The calling AP title of the hostile HLS-GMAC client ("HST" and a serial, Green Book 4.3.4).
CLIENT_SYSTEM_TITLE = b"HST\x00\x00\x00\x00\x01"
#: Invocation counters one ciphered session may use (it needs about ten).
COUNTERS_PER_SESSION = 100

CLOCK_LN = "0.0.1.0.0.255"
CLOCK = CosemAttributeDescriptor(8, parse_obis(CLOCK_LN), 2)
VOLTAGE_L1 = CosemAttributeDescriptor(3, parse_obis("1.0.32.7.0.255"), 2)
LOAD_PROFILE = parse_obis("1.0.99.1.0.255")
PROFILE_BUFFER = CosemAttributeDescriptor(7, LOAD_PROFILE, 2)
#: Profile generic method 1, reset (Blue Book 4.3.6): it needs full access, which no hostile client has.
PROFILE_RESET = CosemMethodDescriptor(7, LOAD_PROFILE, 1)
#: The clock column of a profile, the restricting object of a range_descriptor (Blue Book 4.3.6).
CLOCK_COLUMN = (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 8), (DataType.OCTET_STRING, parse_obis(CLOCK_LN)),
                                     (DataType.INTEGER, 2), (DataType.LONG_UNSIGNED, 0)])
#: Length fields no sane peer sends (X.690 8.1.3 and A-XDR): 4 octets of FF, beyond any frame,
#: indefinite, more than 4 length octets.
ABSURD_LENGTHS = (b"\x84\xff\xff\xff\xff", b"\x82\xff\xff", b"\x81\xff", b"\x80", b"\x85\x01\x00\x00\x00\x00",
                  b"\x7f")
#: The glo- tag of each ded- tag and the other way round (Green Book 9.5).
OTHER_FAMILY = {**{GLOBAL_CIPHERED_TAG[plain]: ded for plain, ded in DEDICATED_CIPHERED_TAG.items()},
                **{ded: GLOBAL_CIPHERED_TAG[plain] for plain, ded in DEDICATED_CIPHERED_TAG.items()}}
APDU_TAGS = tuple(ApduTag)
CIPHERED_REQUEST_TAGS = (ApduTag.GLO_GET_REQUEST, ApduTag.GLO_SET_REQUEST, ApduTag.GLO_ACTION_REQUEST,
                         ApduTag.DED_GET_REQUEST, ApduTag.DED_ACTION_REQUEST, ApduTag.GLO_INITIATE_REQUEST,
                         ApduTag.GENERAL_GLO_CIPHERING, ApduTag.GENERAL_DED_CIPHERING)


@dataclass(frozen=True, slots=True)
class Send:
    """One step of a scenario: put ``data`` on the wire (``frames`` frames toward
    ``--frames``), then wait up to ``wait`` seconds for ``answers`` answer frames.
    ``well_formed``: the meter owes an answer (or a close); ``abort``: after the
    step the client resets the connection."""

    data: bytes
    wait: float = PROBE_WAIT
    frames: int = 1
    answers: int = 1
    well_formed: bool = False
    abort: bool = False


Scenario = Generator[Send, list[bytes], None]


@dataclass(frozen=True, slots=True)
class Clients:
    """The clients of the sample lab (etc/lab.ini) that the scenarios play."""

    public_sap: int
    reader_sap: int
    reader_password: bytes
    utility_sap: int
    block_cipher_key: bytes
    authentication_key: bytes


class Meter:
    """One target meter as the scenarios see it: its port, and the next invocation
    counter of the utility association, whose ciphered sessions run one at a time
    so that the meter sees their counters in order."""

    __slots__ = ("index", "port", "next_counter", "ciphered_session")

    def __init__(self, index: int, port: int) -> None:
        self.index = index
        self.port = port
        self.next_counter = 1
        self.ciphered_session = False

    def take_counters(self) -> int:
        """The first of ``COUNTERS_PER_SESSION`` invocation counters no session used."""
        first = self.next_counter
        self.next_counter += COUNTERS_PER_SESSION
        return first


ScenarioFactory = Callable[[random.Random, Meter, Clients], Scenario]


# --------------------------------------------------------------------------- valid requests


def aarq(password: bytes | None = None, max_pdu: int = 1200) -> bytes:
    """An AARQ in the LN context (Green Book 9.4.2), lowest level or LLS security,
    with the InitiateRequest the project's client proposes."""
    initiate = xdlms.InitiateRequest(None, True, None, xdlms.DLMS_VERSION, PROPOSED_CONFORMANCE, max_pdu)
    return acse.encode_aarq(acse.AARQ(
        ApplicationContextName.LOGICAL_NAME, sender_acse_requirements=password is not None,
        mechanism_name=None if password is None else AuthenticationMechanism.LLS,
        calling_authentication_value=password, user_information=xdlms.encode_initiate_request(initiate)))


def get(attribute: CosemAttributeDescriptor, access: SelectiveAccess | None = None) -> bytes:
    return encode_request(GetRequestNormal(INVOKE_ID_AND_PRIORITY, attribute, access))


def real_requests() -> tuple[bytes, ...]:
    """GET-Request-Normal of the clock, a register and two hours of the load profile
    (range_descriptor), and a GET-Request-With-List of both registers."""
    now = datetime.datetime.now(datetime.UTC)
    window = range_access(CLOCK_COLUMN, CosemDateTime.from_datetime(now - datetime.timedelta(hours=2)),
                          CosemDateTime.from_datetime(now))
    return (get(CLOCK), get(VOLTAGE_L1), get(PROFILE_BUFFER, window),
            encode_request(GetRequestWithList(INVOKE_ID_AND_PRIORITY, ((CLOCK, None), (VOLTAGE_L1, None)))))


REQUESTS = real_requests()


def flip_bits(rng: random.Random, data: bytes, low: int = 0) -> bytes:
    """``data`` with 1 to 3 random bits flipped at or after byte ``low``."""
    flipped = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        bit = rng.randrange(low * 8, len(data) * 8)
        flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def split(rng: random.Random, data: bytes, pieces: int) -> list[bytes]:
    """``data`` cut at ``pieces - 1`` random places (each piece at least one byte)."""
    cuts = sorted(rng.sample(range(1, len(data)), min(pieces, len(data)) - 1))
    return [data[start:stop] for start, stop in zip([0, *cuts], [*cuts, len(data)])]


# --------------------------------------------------------------------------- framing


def random_bytes(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """1 to 512 random bytes: not even a wrapper header."""
    yield Send(rng.randbytes(rng.randint(1, 512)))


def truncated(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """A real frame cut short, then silence."""
    whole = wrap(clients.public_sap, METER_WPORT, rng.choice((aarq(), *REQUESTS)))
    yield Send(whole[:rng.randint(1, len(whole) - 1)], wait=SILENCE_WAIT)


def length_65535(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """A wrapper header announcing a 65,535-byte APDU, a few bytes of it, then silence."""
    header = WRAPPER.pack(1, rng.choice((clients.public_sap, clients.reader_sap)), METER_WPORT, 0xFFFF)
    yield Send(header + rng.randbytes(rng.randint(0, 64)), wait=SILENCE_WAIT)


def oversized_apdu(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """A whole frame whose random APDU (a GET-Request tag first) is longer than the
    meter's max receive PDU size (1,024 bytes): up to 65,535 bytes."""
    apdu = bytes((ApduTag.GET_REQUEST,)) + rng.randbytes(rng.randint(1024, 0xFFFE))
    yield Send(wrap(clients.public_sap, METER_WPORT, apdu))


def wrong_version(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """A valid AARQ behind a wrapper version other than 1."""
    apdu = aarq()
    version = rng.choice((0, 2, 0x0100, 0xFFFF, rng.randint(2, 0xFFFF)))
    yield Send(WRAPPER.pack(version, clients.public_sap, METER_WPORT, len(apdu)) + apdu)


def unknown_wport(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """A valid AARQ to a destination wPort where no logical device is, then one to wPort 1."""
    apdu = aarq()
    destination = rng.choice((0, 2, 0x10, 0x7F, 0xFFFF, rng.randint(2, 0xFFFF)))
    yield Send(wrap(clients.public_sap, destination, apdu))
    yield Send(wrap(clients.public_sap, METER_WPORT, apdu), wait=ANSWER_WAIT, well_formed=True)


def abandon(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """A valid AARQ, then a TCP reset before the answer: a flood of reconnects."""
    yield Send(wrap(clients.public_sap, METER_WPORT, aarq()), wait=0.0, abort=True)


# --------------------------------------------------------------------------- APDUs


def random_apdu(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """A known APDU tag and random bytes in a correct wrapper frame, after a public
    association half of the time."""
    sap = clients.public_sap
    if rng.random() < 0.5 and not (yield Send(wrap(sap, METER_WPORT, aarq()), wait=ANSWER_WAIT, well_formed=True)):
        return
    apdu = bytes((rng.choice(APDU_TAGS),)) + rng.randbytes(rng.randint(0, 300))
    yield Send(wrap(sap, METER_WPORT, apdu))


def bit_flips(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """A real exchange with 1 to 3 bits flipped anywhere in a frame: the AARQ one
    time in four, else a GET after a valid AARQ."""
    sap = clients.public_sap
    association = wrap(sap, METER_WPORT, aarq())
    if rng.random() < 0.25:
        yield Send(flip_bits(rng, association))
        return
    if (yield Send(association, wait=ANSWER_WAIT, well_formed=True)):
        yield Send(flip_bits(rng, wrap(sap, METER_WPORT, rng.choice(REQUESTS))))


def ber_length_fields(apdu: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every BER length field of an AARQ: the APDU's, its
    elements' and the values inside constructed elements (X.690 8.1.3)."""
    fields = []

    def walk(start: int, end: int, depth: int) -> None:
        pos = start
        for tag, content, stop in ber.iter_tlv(apdu, start, end):
            fields.append((pos + 1, content - pos - 1))
            if tag & 0x20 and depth:
                walk(content, stop, depth - 1)
            pos = stop

    walk(0, len(apdu), 2)
    return fields


def absurd_aarq(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """An AARQ (public or LLS) with one BER length made absurd: 0x84 FFFFFFFF,
    beyond the frame, indefinite, five length octets."""
    sap, password = rng.choice(((clients.public_sap, None), (clients.reader_sap, clients.reader_password)))
    apdu = aarq(password)
    offset, size = rng.choice(ber_length_fields(apdu))
    yield Send(wrap(sap, METER_WPORT, apdu[:offset] + rng.choice(ABSURD_LENGTHS) + apdu[offset + size:]))


def many_client_saps(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """AARQs from 9 to 16 client SAPs on one connection, beyond what one connection may hold."""
    saps = [clients.public_sap, clients.reader_sap, *rng.sample(range(1, 0x10000), 14)][:rng.randint(9, 16)]
    for sap in saps:
        yield Send(wrap(sap, METER_WPORT, aarq()), wait=ANSWER_WAIT, well_formed=True)


# --------------------------------------------------------------------------- block transfer


def block_number(answers: Sequence[bytes]) -> int | None:
    """The block number of a GET-Response-With-Datablock among ``answers``."""
    for answer in answers:
        with contextlib.suppress(DecodeError):
            response = decode_response(answer[HEADER_SIZE:])
            if isinstance(response, GetResponseWithDatablock):
                return response.block_number
    return None


def get_blocks(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """The whole load profile with a client max PDU of 64 to 256 bytes, so that it
    comes in blocks; GET-Request-Next with the right, a repeated, a stale, a
    skipped or an absurd block number; the transfer is abandoned. One time in
    five, a GET-Request-Next without a long GET."""
    sap = clients.public_sap
    if not (yield Send(wrap(sap, METER_WPORT, aarq(max_pdu=rng.choice((64, 128, 256)))), wait=ANSWER_WAIT,
                       well_formed=True)):
        return
    if rng.random() < 0.2:
        yield Send(wrap(sap, METER_WPORT, encode_request(GetRequestNext(INVOKE_ID_AND_PRIORITY, rng.choice((0, 1))))),
                   wait=ANSWER_WAIT, well_formed=True)
        return
    last = block_number((yield Send(wrap(sap, METER_WPORT, get(PROFILE_BUFFER)), wait=ANSWER_WAIT, well_formed=True)))
    for _ in range(rng.randint(2, 6)):
        if last is None:
            return
        number = rng.choice((last, last, last - 1, 0, last + rng.randint(2, 50), 0xFFFFFFFF, rng.getrandbits(32)))
        request = encode_request(GetRequestNext(INVOKE_ID_AND_PRIORITY, number % (1 << 32)))
        last = block_number((yield Send(wrap(sap, METER_WPORT, request), wait=ANSWER_WAIT, well_formed=True))) or last


def out_of_order_blocks(rng: random.Random, sap: int, password: bytes,
                        first: Callable[[bytes], bytes], following: Callable[[bool, int, bytes], bytes],
                        raw: bytes) -> Scenario:
    """LLS association, then ``raw`` in 2 to 4 blocks: the first block, then blocks
    whose numbers are mostly wrong (repeated, zero, skipped, absurd) and whose
    last-block flag is then random; now and then every number is right."""
    if not (yield Send(wrap(sap, METER_WPORT, aarq(password)), wait=ANSWER_WAIT, well_formed=True)):
        return
    pieces = split(rng, raw, rng.randint(2, 4))
    yield Send(wrap(sap, METER_WPORT, first(pieces[0])), wait=ANSWER_WAIT, well_formed=True)
    for number, piece in enumerate(pieces[1:], start=2):
        last = number == len(pieces)
        if rng.random() < 0.7:
            number = rng.choice((number - 1, 0, number + 1, number + 7, 0xFFFFFFFF))
            last = rng.random() < 0.5
        yield Send(wrap(sap, METER_WPORT, following(last, number, piece)), wait=ANSWER_WAIT, well_formed=True)


def set_blocks(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """SET of the clock (to now) in datablocks, numbered out of order, as the LLS reader."""
    now = encode_octet_string(CosemDateTime.from_datetime(datetime.datetime.now(datetime.UTC)).to_bytes())
    yield from out_of_order_blocks(
        rng, clients.reader_sap, clients.reader_password,
        lambda piece: encode_request(SetRequestWithFirstDatablock(INVOKE_ID_AND_PRIORITY, CLOCK, None, False, 1,
                                                                  piece)),
        lambda last, number, piece: encode_request(SetRequestWithDatablock(INVOKE_ID_AND_PRIORITY, last, number,
                                                                           piece)),
        now)


def action_blocks(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """ACTION (profile reset, refused at the end for want of full access) in pblocks
    numbered out of order, as the LLS reader; one time in four an
    Action-Request-Next-Pblock with no action in progress."""
    sap = clients.reader_sap
    if rng.random() < 0.25:
        if (yield Send(wrap(sap, METER_WPORT, aarq(clients.reader_password)), wait=ANSWER_WAIT,
                       well_formed=True)):
            request = encode_request(ActionRequestNextPblock(INVOKE_ID_AND_PRIORITY, rng.choice((0, 1, 5))))
            yield Send(wrap(sap, METER_WPORT, request), wait=ANSWER_WAIT, well_formed=True)
        return
    parameters = encode_data((DataType.OCTET_STRING, rng.randbytes(rng.randint(4, 200))))
    yield from out_of_order_blocks(
        rng, sap, clients.reader_password,
        lambda piece: encode_request(ActionRequestWithFirstPblock(INVOKE_ID_AND_PRIORITY, PROFILE_RESET, False, 1,
                                                                  piece)),
        lambda last, number, piece: encode_request(ActionRequestWithPblock(INVOKE_ID_AND_PRIORITY, last, number,
                                                                           piece)),
        parameters)


# --------------------------------------------------------------------------- ciphering


def bad_length(rng: random.Random, tag: int, content: bytes) -> bytes:
    """``tag``, a wrong length (too short, too long or absurd), then ``content``."""
    wrong = rng.choice((len(content) + rng.randint(1, 40), max(0, len(content) - rng.randint(1, 20))))
    return bytes((tag,)) + rng.choice((ber.encode_length(wrong), *ABSURD_LENGTHS)) + content


def made_up_ciphered(rng: random.Random) -> bytes:
    """A ciphered APDU (glo-, ded-, general-glo-, general-ded-) with a made-up
    counter, random text and tag, and one time in two a wrong length."""
    tag = rng.choice(CIPHERED_REQUEST_TAGS)
    protected = bytes((rng.choice((0x10, 0x20, 0x30, rng.getrandbits(8))),)) + rng.randbytes(
        4 + rng.randint(0, 64) + TAG_LENGTH)
    if tag in (ApduTag.GENERAL_GLO_CIPHERING, ApduTag.GENERAL_DED_CIPHERING):
        if rng.random() < 0.5:
            return bad_length(rng, tag, CLIENT_SYSTEM_TITLE + protected)
        return encode_general_ciphering(tag, rng.choice((CLIENT_SYSTEM_TITLE, b"", rng.randbytes(9))), protected)
    return bad_length(rng, tag, protected) if rng.random() < 0.5 else encode_ciphered_apdu(tag, protected)


def ciphered_without_association(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """One to three made-up ciphered APDUs, to the utility's or the public SAP,
    without an association."""
    for _ in range(rng.randint(1, 3)):
        yield Send(wrap(rng.choice((clients.utility_sap, clients.public_sap)), METER_WPORT, made_up_ciphered(rng)))


def gurux_client(clients: Clients, counter: int, dedicated: bool) -> GXDLMSSecureClient:
    """A gurux HLS-GMAC client of the utility association (ciphered context,
    authenticated encryption), with a dedicated key or with the global keys only."""
    client = GXDLMSSecureClient(True, clients.utility_sap, METER_WPORT, GuruxAuthentication.HIGH_GMAC, None,
                                InterfaceType.WRAPPER)
    client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
    client.ciphering.systemTitle = CLIENT_SYSTEM_TITLE
    client.ciphering.blockCipherKey = clients.block_cipher_key
    client.ciphering.authenticationKey = clients.authentication_key
    client.ciphering.invocationCounter = counter
    if dedicated:
        client.ciphering.dedicatedKey = bytes(range(0x10, 0x20))
    return client


def accepted(client: GXDLMSSecureClient, answers: Sequence[bytes], parse: Callable[[GXByteBuffer], object]) -> bool:
    """Whether gurux takes the first answer (AARE, HLS pass 4) as a success."""
    if not answers:
        return False
    reply = GXReplyData()
    try:
        with quiet():
            client.getData(GXByteBuffer(answers[0]), reply, None)
            parse(reply.data)
    except Exception:  # gurux raises its own and built-in types for a refusal
        return False
    return True


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """gurux prints a line for each ciphered APDU it parses: keep it off the report."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def clock_read(client: GXDLMSSecureClient) -> bytes:
    """A ciphered GET of the clock from gurux, under its next invocation counter: the whole frame."""
    with quiet():
        return bytes(client.read(GXDLMSClock(CLOCK_LN), 2)[0])


def replayed(rng: random.Random, client: GXDLMSSecureClient, sap: int, valid: bytes) -> bytes:
    """The last valid request once more: its counter is used."""
    return valid


def flipped_tag(rng: random.Random, client: GXDLMSSecureClient, sap: int, valid: bytes) -> bytes:
    """A fresh request with a bit flipped in its authentication tag."""
    fresh = clock_read(client)
    return flip_bits(rng, fresh, len(fresh) - TAG_LENGTH)


def wrong_length(rng: random.Random, client: GXDLMSSecureClient, sap: int, valid: bytes) -> bytes:
    """A fresh request whose ciphered-APDU length is wrong."""
    tag, protected = decode_ciphered_apdu(clock_read(client)[HEADER_SIZE:])
    return wrap(sap, METER_WPORT, bad_length(rng, tag, protected))


def rewritten_counter(rng: random.Random, client: GXDLMSSecureClient, sap: int, valid: bytes) -> bytes:
    """A fresh request whose invocation counter is rewritten (lower, zero or higher)."""
    tag, protected = decode_ciphered_apdu(clock_read(client)[HEADER_SIZE:])
    counter = struct.unpack_from(">I", protected, 1)[0]
    new = rng.choice((0, max(0, counter - 1), counter + 1, 0xFFFFFFFF))
    return wrap(sap, METER_WPORT, encode_ciphered_apdu(tag, protected[:1] + struct.pack(">I", new) + protected[5:]))


def other_tag(rng: random.Random, client: GXDLMSSecureClient, sap: int, valid: bytes) -> bytes:
    """A fresh request under the other family's tag: glo- for ded- and back, or
    general-glo-ciphering with the client's system title."""
    tag, protected = decode_ciphered_apdu(clock_read(client)[HEADER_SIZE:])
    if rng.random() < 0.5:
        return wrap(sap, METER_WPORT, encode_general_ciphering(ApduTag.GENERAL_GLO_CIPHERING, CLIENT_SYSTEM_TITLE,
                                                               protected))
    return wrap(sap, METER_WPORT, encode_ciphered_apdu(OTHER_FAMILY[tag], protected))


CIPHER_MUTATIONS = (replayed, flipped_tag, wrong_length, rewritten_counter, other_tag)


def ciphered_association(rng: random.Random, meter: Meter, clients: Clients) -> Scenario:
    """A real HLS-GMAC association in the ciphered context with authenticated
    encryption (gurux builds the AARQ, f(StoC) and the requests; global or
    dedicated key), a valid ciphered GET, two to four broken ones (replayed,
    flipped tag, wrong length, rewritten counter, other tag family), and a last
    valid GET under a fresh counter."""
    client = gurux_client(clients, meter.take_counters(), dedicated=rng.random() < 0.5)
    with quiet():
        request = b"".join(bytes(frame) for frame in client.aarqRequest())
    if not accepted(client, (yield Send(request, wait=ANSWER_WAIT, well_formed=True)), client.parseAareResponse):
        return
    with quiet():
        request = b"".join(bytes(frame) for frame in client.getApplicationAssociationRequest())
    if not accepted(client, (yield Send(request, wait=ANSWER_WAIT, well_formed=True)),
                    client.parseApplicationAssociationResponse):
        return
    valid = clock_read(client)
    if not (yield Send(valid, wait=ANSWER_WAIT, well_formed=True)):
        return
    for _ in range(rng.randint(2, 4)):
        yield Send(rng.choice(CIPHER_MUTATIONS)(rng, client, clients.utility_sap, valid))
    yield Send(clock_read(client))


#: Every scenario by the name the report gives it.
SCENARIOS: dict[str, ScenarioFactory] = {
    "random-bytes": random_bytes,
    "random-apdu": random_apdu,
    "bit-flips": bit_flips,
    "truncated": truncated,
    "length-65535": length_65535,
    "oversized-apdu": oversized_apdu,
    "wrong-version": wrong_version,
    "unknown-wport": unknown_wport,
    "get-blocks": get_blocks,
    "set-blocks": set_blocks,
    "action-blocks": action_blocks,
    "ciphered-no-association": ciphered_without_association,
    "ciphered-association": ciphered_association,
    "absurd-aarq": absurd_aarq,
    "many-client-saps": many_client_saps,
    "abandon": abandon,
}
#: Scenarios of which a meter runs one at a time.
ONE_PER_METER = frozenset({"ciphered-association"})
