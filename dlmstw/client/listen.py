"""Receiving pushes (``dlmstw-client listen PORT``): Data-Notifications in
IEC 62056-47 wrapper frames, over TCP (one or more frames per connection) and
UDP (one frame per datagram), deciphered when keys are given (Green Book
9.3.10; a ciphered Data-Notification travels in general-glo- or
general-ded-ciphering, which names the sender's system title).

``read_push`` is sans-I/O: a frame's APDU to a ``Push``; the listener
around it is Twisted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.python.failure import Failure

from ..codec.axdr import Data
from ..codec.services import decode_data_notification
from ..errors import DecodeError
from ..framing.wrapper import WrapperDecoder, decode_wpdu
from ..security import ciphering
from ..security.ciphering import GENERAL_CIPHERING_TAGS, SecurityError

#: The largest push frame a listener takes (the wrapper's length field bounds it anyway).
MAX_APDU = 0xFFFF


@dataclass(frozen=True, slots=True)
class Push:
    """One push received: who sent it (``peer`` ip:port, ``transport``), the
    wPorts, the system title and invocation counter when it was ciphered, and
    the Data-Notification's fields."""

    peer: str
    transport: str
    source_wport: int
    destination_wport: int
    system_title: bytes | None
    invocation_counter: int | None
    long_invoke_id_and_priority: int
    date_time: bytes
    body: Data


@dataclass(frozen=True, slots=True)
class PushKeys:
    """The global (or dedicated) block cipher key and authentication key of the senders."""

    block_cipher_key: bytes
    authentication_key: bytes


def read_push(apdu: bytes, keys: PushKeys | None) -> tuple[bytes | None, int | None, Data, int, bytes]:
    """(system title, invocation counter, body, long-invoke-id-and-priority, date-time)
    of a Data-Notification, plain or in general ciphering; ``DecodeError`` (or
    ``SecurityError``) when it is neither or cannot be deciphered."""
    title = counter = None
    if apdu[:1] and apdu[0] in GENERAL_CIPHERING_TAGS:
        if keys is None:
            raise SecurityError("a ciphered push: give --key and --auth-key to decipher it")
        _, title, protected = ciphering.decode_general_ciphering(apdu)
        _, counter, apdu = ciphering.unprotect(protected, system_title=title, block_cipher_key=keys.block_cipher_key,
                                               authentication_key=keys.authentication_key)
    notification = decode_data_notification(apdu)
    return title, counter, notification.body, notification.long_invoke_id_and_priority, notification.date_time


class PushReceiver:
    """What both transports hand their frames to: ``received`` gets each
    push, ``refused`` each frame that is not one (with the reason)."""

    def __init__(self, keys: PushKeys | None, received: Callable[[Push], None],
                 refused: Callable[[str, str], None]) -> None:
        self.keys = keys
        self.received = received
        self.refused = refused

    def frame(self, peer: str, transport: str, source: int, destination: int, apdu: bytes) -> None:
        try:
            title, counter, body, invoke, date_time = read_push(apdu, self.keys)
        except DecodeError as error:
            self.refused(peer, str(error))
            return
        self.received(Push(peer, transport, source, destination, title, counter, invoke, date_time, body))


class PushStream(Protocol):
    """A TCP connection carrying pushes: frames until the sender closes."""

    def __init__(self, receiver: PushReceiver) -> None:
        self.receiver = receiver
        self.decoder = WrapperDecoder(MAX_APDU)
        self.peer = ""

    def connectionMade(self) -> None:
        assert self.transport is not None
        peer = self.transport.getPeer()
        self.peer = f"{peer.host}:{peer.port}"

    def dataReceived(self, data: bytes) -> None:
        try:
            frames = self.decoder.feed(data)
        except DecodeError as error:
            self.receiver.refused(self.peer, str(error))
            assert self.transport is not None
            self.transport.loseConnection()
            return
        for source, destination, apdu, _ in frames:
            self.receiver.frame(self.peer, "tcp", source, destination, apdu)

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        """Nothing is kept per connection."""


class PushStreams(Factory):
    def __init__(self, receiver: PushReceiver) -> None:
        self.receiver = receiver

    def buildProtocol(self, addr: object) -> PushStream:
        return PushStream(self.receiver)


class PushDatagrams(DatagramProtocol):
    """UDP: each datagram is one wrapper frame."""

    def __init__(self, receiver: PushReceiver) -> None:
        self.receiver = receiver

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        try:
            source, destination, apdu, _ = decode_wpdu(datagram)
        except DecodeError as error:
            self.receiver.refused(peer, str(error))
            return
        self.receiver.frame(peer, "udp", source, destination, apdu)
