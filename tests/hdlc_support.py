"""The unmodified gurux-dlms client over HDLC (``InterfaceType.HDLC``) on a TCP
connection: ``HdlcMeterSession`` is ``MeterSession`` with HDLC frames (SNRM/UA
before the AARQ, DISC/UA after the RLRQ). Frames are read by their format
field (IEC 62056-46: flag, type 3 format with an 11-bit length, ..., flag) and
handed to gurux whole; gurux checks everything else."""

from __future__ import annotations

from typing import Any

from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType

from interop_support import MeterSession, receive_exactly

LOGICAL_DEVICE = 1


def receive_hdlc_frame(sock: Any) -> bytes:
    """One frame: the opening flag and format field, then the length the format announces."""
    head = receive_exactly(sock, 3)
    if head[0] != 0x7E:
        raise ValueError(f"frame starts with {head.hex().upper()}")
    length = (head[1] << 8 | head[2]) & 0x7FF
    return head + receive_exactly(sock, length - 1)


def hdlc_client(client_sap: int, physical: int | None, password: str | None = None,
                max_info: int | None = None, client: GXDLMSClient | None = None) -> GXDLMSClient:
    """A gurux LN client over HDLC to logical device 1 at ``physical`` (gurux's
    default one-octet address when None); LLS when a password is given."""
    server = LOGICAL_DEVICE if physical is None else GXDLMSClient.getServerAddress(LOGICAL_DEVICE, physical)
    if client is None:
        authentication = Authentication.LOW if password is not None else Authentication.NONE
        client = GXDLMSClient(True, client_sap, server, authentication, password, InterfaceType.HDLC)
    else:
        client.serverAddress = server
        client.interfaceType = InterfaceType.HDLC
    if max_info is not None:
        client.hdlcSettings.maxInfoRX = max_info
        client.hdlcSettings.maxInfoTX = max_info
    return client


class HdlcMeterSession(MeterSession):
    """One TCP connection carrying HDLC frames, driven by one gurux client."""

    def __init__(self, port: int, client: GXDLMSClient, **kwargs: Any) -> None:
        super().__init__(port, client.clientAddress, **kwargs)
        self.client = client
        self.frames_received = 0

    def transfer(self, frame: bytes) -> bytes:
        if self.sock is None:
            raise ConnectionError("not connected")
        self.trace.append(("C->S", bytes(frame)))
        self.sock.sendall(frame)
        received = receive_hdlc_frame(self.sock)
        self.trace.append(("S->C", received))
        self.frames_received += 1
        self.apdu_sizes.append(len(received))
        return received

    def associate(self) -> None:
        """SNRM -> UA (gurux reads the negotiated parameters), then AARQ -> AARE."""
        if self.sock is None:
            self.connect()
        with self._noted():
            reply = GXReplyData()
            received = self.transfer(bytes(self.client.snrmRequest()))
            self.client.getData(GXByteBuffer(received), reply, None)
            self.client.parseUAResponse(reply.data)
        super().associate()

    def release(self) -> GXReplyData:
        """RLRQ -> RLRE, then DISC -> UA."""
        reply = super().release()
        with self._noted():
            self.transfer(bytes(self.client.disconnectRequest()))
        return reply
