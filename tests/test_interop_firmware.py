"""Firmware upgrades over real sockets (issue 16, item 1): the unmodified gurux-dlms client
drives Image transfer (class 18, 0.0.44.0.0.255) with ``GXDLMSImageTransfer``: initiate,
blocks, verify, activate; the meter restarts after ``activation_delay`` (the connection
drops) and reports the new firmware identifier. An interrupted transfer resumes from the
first missing block; ``image-verify-fail`` and ``image-activate-fail`` leave the standard
statuses.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator

import pytest
from gurux_dlms import GXDLMSException, GXReplyData
from gurux_dlms.objects import GXDLMSData, GXDLMSImageTransfer
from gurux_dlms.objects.enums import ImageTransferStatus

from interop_support import READER_CLIENT as READER, READER_PASSWORD as PASSWORD, Lab, MeterSession, simple_lab

IMAGE_TRANSFER = "0.0.44.0.0.255"
ACTIVATION_DELAY = 1.0
#: The action-result other-reason (Green Book 9.5), as gurux reports it.
OTHER_REASON = 250


def groups(base: int) -> str:
    return f"""\
[meters:household]
port = {base}
model = is15959-household
load_profile_days = 1
activation_delay = {ACTIVATION_DELAY}
image_max_size = 64KiB

[meters:generic]
port = {base + 1}
model = dlms-generic
load_profile_days = 1
activation_delay = 0.2s

[meters:refusing]
port = {base + 2}
model = dlms-generic
load_profile_days = 1
faults = image-verify-fail:1.0

[meters:failing]
port = {base + 3}
model = dlms-generic
load_profile_days = 1
faults = image-activate-fail:1.0
"""


@pytest.fixture(scope="module")
def firmware_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from simple_lab(tmp_path_factory, "firmware", groups, 4)


def image_of(payload: bytes) -> bytes:
    """An image as the meters verify it by default (sha256-trailer): the payload and its SHA-256."""
    return payload + hashlib.sha256(payload).digest()


def invoke(session: MeterSession, request: object) -> None:
    session.exchange(request, GXReplyData())  # type: ignore[arg-type]


def start_transfer(session: MeterSession, identifier: str, image: bytes) -> tuple[GXDLMSImageTransfer, list]:
    """Read the block size, initiate, and the block transfer requests gurux makes."""
    target = GXDLMSImageTransfer(IMAGE_TRANSFER)
    session.read(target, 2)
    session.read(target, 5)
    assert target.imageTransferEnabled is True
    invoke(session, target.imageTransferInitiate(session.client, identifier, len(image)))
    return target, target.imageBlockTransfer(session.client, image, None)


def read_data(session: MeterSession, ln: str) -> object:
    return session.read_raw(GXDLMSData(ln), 2)


def dropped(session: MeterSession, within: float) -> bool:
    """Whether the meter closes the connection within ``within`` seconds."""
    assert session.sock is not None
    session.sock.settimeout(within)
    try:
        return session.sock.recv(1) == b""
    except (ConnectionResetError, ConnectionAbortedError):
        return True
    except socket.timeout:
        return False


def test_a_complete_image_transfer_changes_the_firmware(firmware_lab: Lab) -> None:
    """Initiate, every block, verify, activate: the meter restarts after activation_delay (the
    connection drops); then 0.0.0.2.0.255 and 1.0.0.2.0.255 name the new image, the status is
    (6) activation successful, and the event logs hold the restart and the firmware change."""
    image = image_of(bytes(range(256)) * 20 + b"firmware 2.0")
    session = MeterSession(firmware_lab.ports[0], READER, PASSWORD)
    session.associate()
    try:
        target, blocks = start_transfer(session, "FW-2.0", image)
        assert target.imageBlockSize == 256
        assert len(blocks) == -(-len(image) // 256)
        for block in blocks:
            invoke(session, block)
        session.read(target, 4)
        assert target.imageFirstNotTransferredBlockNumber == len(blocks)
        invoke(session, target.imageVerify(session.client))
        session.read(target, 6)
        assert target.imageTransferStatus == ImageTransferStatus.IMAGE_VERIFICATION_SUCCESSFUL
        session.read(target, 7)
        assert [(i.size, bytes(i.identification)) for i in target.imageActivateInfo] == [(len(image), b"FW-2.0")]
        assert bytes(target.imageActivateInfo[0].signature) == hashlib.sha256(image).digest()
        activated_at = time.monotonic()
        invoke(session, target.imageActivate(session.client))
        assert dropped(session, ACTIVATION_DELAY + 5)
        assert time.monotonic() - activated_at >= ACTIVATION_DELAY * 0.8
    finally:
        session.close()
    with MeterSession(firmware_lab.ports[0], READER, PASSWORD) as session:
        assert bytes(read_data(session, "0.0.0.2.0.255")) == b"FW-2.0"
        assert bytes(read_data(session, "1.0.0.2.0.255")) == b"FW-2.0"
        target = GXDLMSImageTransfer(IMAGE_TRANSFER)
        session.read(target, 6)
        assert target.imageTransferStatus == ImageTransferStatus.IMAGE_ACTIVATION_SUCCESSFUL
        assert read_data(session, "0.0.96.11.3.255") == 157  # transaction events: new firmware activated
        assert read_data(session, "0.0.96.11.2.255") == 102  # power failure events: power restored
    stored = firmware_lab.directory / "state" / "images" / "household-0.img"
    assert stored.read_bytes() == image


def test_an_interrupted_transfer_resumes_from_the_first_missing_block(firmware_lab: Lab) -> None:
    """Half the blocks, then the connection is lost: a new association reads
    image_first_not_transferred_block_number, initiates the same image again and sends only
    the blocks from there; verification succeeds, and dlms-generic's standard event log ends with
    17 (firmware ready for activation)."""
    image = image_of(bytes(reversed(range(256))) * 12)
    with MeterSession(firmware_lab.ports[1], READER, PASSWORD) as session:
        target, blocks = start_transfer(session, "FW-3.1", image)
        half = len(blocks) // 2
        for block in blocks[:half]:
            invoke(session, block)
    with MeterSession(firmware_lab.ports[1], READER, PASSWORD) as session:
        target = GXDLMSImageTransfer(IMAGE_TRANSFER)
        session.read(target, 2)
        session.read(target, 4)
        session.read(target, 6)
        assert target.imageFirstNotTransferredBlockNumber == half
        assert target.imageTransferStatus == ImageTransferStatus.IMAGE_TRANSFER_INITIATED
        bits = session.read_raw(target, 3)
        assert str(bits) == "1" * half + "0" * (len(blocks) - half)
        invoke(session, target.imageTransferInitiate(session.client, "FW-3.1", len(image)))
        session.read(target, 4)
        assert target.imageFirstNotTransferredBlockNumber == half
        for block in target.imageBlockTransfer(session.client, image, None)[half:]:
            invoke(session, block)
        invoke(session, target.imageVerify(session.client))
        session.read(target, 6)
        assert target.imageTransferStatus == ImageTransferStatus.IMAGE_VERIFICATION_SUCCESSFUL
        assert read_data(session, "0.0.96.11.0.255") == 17


def test_a_corrupt_image_and_a_missing_block_fail_verification(firmware_lab: Lab) -> None:
    """A block whose trailer does not match, or a block never sent: image_verify answers
    other-reason and leaves (4) image verification failed."""
    image = bytearray(image_of(b"x" * 700))
    image[3] ^= 0xFF
    with MeterSession(firmware_lab.ports[1], READER, PASSWORD) as session:
        target, blocks = start_transfer(session, "FW-BAD", bytes(image))
        for block in blocks[:-1]:
            invoke(session, block)
        with pytest.raises(GXDLMSException) as missing:
            invoke(session, target.imageVerify(session.client))
        assert missing.value.errorCode == OTHER_REASON
        invoke(session, blocks[-1])
        with pytest.raises(GXDLMSException) as corrupt:
            invoke(session, target.imageVerify(session.client))
        assert corrupt.value.errorCode == OTHER_REASON
        session.read(target, 6)
        assert target.imageTransferStatus == ImageTransferStatus.IMAGE_VERIFICATION_FAILED


def test_an_image_above_image_max_size_is_refused(firmware_lab: Lab) -> None:
    """image_max_size = 64KiB: initiating a larger image is other-reason."""
    with MeterSession(firmware_lab.ports[0], READER, PASSWORD) as session:
        target = GXDLMSImageTransfer(IMAGE_TRANSFER)
        session.read(target, 2)
        with pytest.raises(GXDLMSException) as refused:
            invoke(session, target.imageTransferInitiate(session.client, "HUGE", 64 * 1024 + 1))
        assert refused.value.errorCode == OTHER_REASON


def test_image_verify_fail_makes_verification_fail(firmware_lab: Lab) -> None:
    """faults = image-verify-fail:1.0: a good, complete image still fails verification with
    other-reason and status (4); image_activate fails the same way."""
    image = image_of(b"good image" * 50)
    with MeterSession(firmware_lab.ports[2], READER, PASSWORD) as session:
        target, blocks = start_transfer(session, "FW-4.0", image)
        for block in blocks:
            invoke(session, block)
        with pytest.raises(GXDLMSException) as failed:
            invoke(session, target.imageVerify(session.client))
        assert failed.value.errorCode == OTHER_REASON
        session.read(target, 6)
        assert target.imageTransferStatus == ImageTransferStatus.IMAGE_VERIFICATION_FAILED
        with pytest.raises(GXDLMSException):
            invoke(session, target.imageActivate(session.client))
        assert bytes(read_data(session, "1.0.0.2.0.255")).startswith(b"dlmstw ")


def test_image_activate_fail_leaves_activation_failed(firmware_lab: Lab) -> None:
    """faults = image-activate-fail:1.0: verification succeeds, activation answers other-reason
    and leaves (7) image activation failed; the firmware stays the old one."""
    image = image_of(b"another image" * 40)
    with MeterSession(firmware_lab.ports[3], READER, PASSWORD) as session:
        target, blocks = start_transfer(session, "FW-5.0", image)
        for block in blocks:
            invoke(session, block)
        invoke(session, target.imageVerify(session.client))
        with pytest.raises(GXDLMSException) as failed:
            invoke(session, target.imageActivate(session.client))
        assert failed.value.errorCode == OTHER_REASON
        session.read(target, 6)
        assert target.imageTransferStatus == ImageTransferStatus.IMAGE_ACTIVATION_FAILED
        assert bytes(read_data(session, "1.0.0.2.0.255")).startswith(b"dlmstw ")
