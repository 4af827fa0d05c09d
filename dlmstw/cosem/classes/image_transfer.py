"""Image transfer, class_id 18, version 0 (Blue Book 4.4.6).

A firmware image travels in blocks of ``image_block_size`` octets:
image_transfer_initiate names it and gives its size, image_block_transfer
carries block n, image_verify checks the whole image and image_activate
makes it the meter's firmware. The image's octets go to the meter's edge
(``IMeterEdge.image_write``: a file in ``state_dir``), never to memory;
the meter keeps only the transfer's state (identifier, size, which blocks
arrived, status) in its persisted object state, so a transfer interrupted
by a lost connection or a restart resumes from the first missing block:
image_transfer_initiate with the same identifier and size keeps the blocks
received.

Verification follows the meter's ``image_policy`` (lab.ini ``image_digest``):
the last 32 octets are the SHA-256 of the rest (``sha256-trailer``), the
image's SHA-256 is a configured one, or any complete image (``none``).
Activation happens ``activation_delay`` seconds later at the edge, which
restarts the meter (its connections drop) and calls ``activated``: the image
identifier becomes the active firmware identifier and the event logs get a
firmware-activated entry (a verified image is recorded as ready for
activation). lab.ini faults ``image-verify-fail`` and
``image-activate-fail`` make that share of attempts fail (statuses 4 and 7);
a failed activation is recorded for the event logs and the alarm push.
"""

from __future__ import annotations

from typing import Any

from ...codec.axdr import Data, encode_data, encode_length
from ...enums import ActionResult, AttributeAccess, DataType
from ..base import AttributeSpec, Context, CosemObject, Encoded, MethodSpec
from .configured import ConfiguredClass, conforms, structure

#: image_transfer_status (Blue Book 4.4.6, attribute 6).
NOT_INITIATED = 0
INITIATED = 1
VERIFICATION_INITIATED = 2
VERIFICATION_SUCCESSFUL = 3
VERIFICATION_FAILED = 4
ACTIVATION_INITIATED = 5
ACTIVATION_SUCCESSFUL = 6
ACTIVATION_FAILED = 7
#: The octets of each block but the last (attribute 2).
IMAGE_BLOCK_SIZE = 256
#: Occurrence kind recorded for the event logs when a new image becomes active.
FIRMWARE_ACTIVATED = "firmware-activated"
#: Occurrence kind recorded when an image is verified, ready for activation.
FIRMWARE_READY = "firmware-ready"
#: Occurrence kind recorded when an activation fails (the old firmware stays).
FIRMWARE_ACTIVATION_FAILED = "firmware-activation-failed"
#: Where the active firmware identifier lives in the meter's object state.
FIRMWARE = (b"", "firmware")
#: image_digest policies besides a SHA-256 given in hex.
SHA256_TRAILER = "sha256-trailer"
ANY_IMAGE = "none"
DIGEST_SIZE = 32
INITIATE = structure((DataType.OCTET_STRING, None), (DataType.DOUBLE_LONG_UNSIGNED, None))
BLOCK = structure((DataType.DOUBLE_LONG_UNSIGNED, None), (DataType.OCTET_STRING, None))


def active_firmware(ctx: Context, default: bytes) -> bytes:
    """The identifier of the image last activated on the meter, else ``default``."""
    found = ctx.meter.object_state.get(FIRMWARE)
    return default if found is None else bytes.fromhex(found)


class ImageTransfer(ConfiguredClass):
    """The transfer's state is ``object_state[(ln, "image")]``: a dict with
    ``id`` (hex), ``size``, ``blocks`` (the transferred-blocks bit map, hex),
    ``status``, ``digest`` (hex, once verified) and ``attempts`` (verify and
    activate attempts, for the faults' draws)."""

    class_id = 18
    version = 0
    name = "Image transfer"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "image_block_size"),
        AttributeSpec(3, "image_transferred_blocks_status"),
        AttributeSpec(4, "image_first_not_transferred_block_number"),
        AttributeSpec(5, "image_transfer_enabled", AttributeAccess.READ_AND_WRITE),
        AttributeSpec(6, "image_transfer_status"),
        AttributeSpec(7, "image_to_activate_info"),
    )
    methods = (MethodSpec(1, "image_transfer_initiate"), MethodSpec(2, "image_block_transfer"),
               MethodSpec(3, "image_verify"), MethodSpec(4, "image_activate"))
    defaults = {
        "image_block_size": (DataType.DOUBLE_LONG_UNSIGNED, IMAGE_BLOCK_SIZE),
        "image_transfer_enabled": (DataType.BOOLEAN, True),
    }
    templates = {"image_transfer_enabled": (DataType.BOOLEAN, None)}

    # -- the transfer's state --------------------------------------------------------

    @staticmethod
    def transfer(obj: CosemObject, ctx: Context) -> dict[str, Any]:
        return ctx.meter.object_state.get((obj.logical_name, "image")) or {"status": NOT_INITIATED}

    @staticmethod
    def _keep(obj: CosemObject, ctx: Context, transfer: dict[str, Any]) -> None:
        """Replace the transfer's state (a new dict, so the meter is saved)."""
        ctx.meter.object_state[(obj.logical_name, "image")] = transfer

    @staticmethod
    def _count(transfer: dict[str, Any]) -> int:
        return -(-transfer.get("size", 0) // IMAGE_BLOCK_SIZE)

    def _first_missing(self, transfer: dict[str, Any]) -> int:
        blocks = bytes.fromhex(transfer.get("blocks", ""))
        count = self._count(transfer)
        for index, octet in enumerate(blocks):
            if octet != 0xFF:
                return min(count, index * 8 + 8 - (octet ^ 0xFF).bit_length())
        return count

    # -- attributes --------------------------------------------------------------

    def read_image_transferred_blocks_status(self, obj: CosemObject, ctx: Context) -> Encoded:
        transfer = self.transfer(obj, ctx)
        return b"\x04" + encode_length(self._count(transfer)) + bytes.fromhex(transfer.get("blocks", ""))

    def read_image_first_not_transferred_block_number(self, obj: CosemObject, ctx: Context) -> Encoded:
        return encode_data((DataType.DOUBLE_LONG_UNSIGNED, self._first_missing(self.transfer(obj, ctx))))

    def read_image_transfer_status(self, obj: CosemObject, ctx: Context) -> Encoded:
        return encode_data((DataType.ENUM, self.transfer(obj, ctx)["status"]))

    def read_image_to_activate_info(self, obj: CosemObject, ctx: Context) -> Encoded:
        """One entry once the image is verified: its size, identifier and SHA-256."""
        transfer = self.transfer(obj, ctx)
        if "digest" not in transfer:
            return encode_data((DataType.ARRAY, []))
        return encode_data((DataType.ARRAY, [(DataType.STRUCTURE, [
            (DataType.DOUBLE_LONG_UNSIGNED, transfer["size"]), (DataType.OCTET_STRING, bytes.fromhex(transfer["id"])),
            (DataType.OCTET_STRING, bytes.fromhex(transfer["digest"]))])]))

    # -- methods -------------------------------------------------------------------

    def _usable(self, obj: CosemObject, parameters: Data | None, template: Data,
                ctx: Context) -> ActionResult | None:
        """Why a method cannot run now, or None."""
        if parameters is None or not conforms(parameters, template):
            return ActionResult.TYPE_UNMATCHED
        if ctx.meter.edge is None:
            return ActionResult.TEMPORARY_FAILURE
        if not self.current(obj, 5, ctx)[1]:
            return ActionResult.OTHER_REASON
        return None

    def do_image_transfer_initiate(self, obj: CosemObject, parameters: Data | None,
                                   ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 1: a new image of ``image_size`` octets; the same identifier and
        size as the transfer under way keep the blocks already received."""
        refused = self._usable(obj, parameters, INITIATE, ctx)
        if refused is not None:
            return refused, None
        assert parameters is not None
        identifier, size = parameters[1][0][1], parameters[1][1][1]
        if not 0 < size <= ctx.meter.image_policy.max_size:
            return ActionResult.OTHER_REASON, None
        transfer = self.transfer(obj, ctx)
        if (transfer.get("id") == identifier.hex() and transfer.get("size") == size
                and INITIATED <= transfer["status"] <= VERIFICATION_FAILED):
            self._keep(obj, ctx, {**transfer, "status": INITIATED})
            return ActionResult.SUCCESS, None
        ctx.meter.edge.image_discard()
        count = -(-size // IMAGE_BLOCK_SIZE)
        self._keep(obj, ctx, {"id": identifier.hex(), "size": size, "blocks": bytes((count + 7) // 8).hex(),
                              "status": INITIATED, "attempts": transfer.get("attempts", 0)})
        return ActionResult.SUCCESS, None

    def do_image_block_transfer(self, obj: CosemObject, parameters: Data | None,
                                ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 2: block n, of IMAGE_BLOCK_SIZE octets (the last: what is left)."""
        refused = self._usable(obj, parameters, BLOCK, ctx)
        if refused is not None:
            return refused, None
        assert parameters is not None
        number, value = parameters[1][0][1], parameters[1][1][1]
        transfer = self.transfer(obj, ctx)
        count = self._count(transfer)
        if not INITIATED <= transfer["status"] <= VERIFICATION_FAILED or number >= count:
            return ActionResult.OTHER_REASON, None
        expected = min(IMAGE_BLOCK_SIZE, transfer["size"] - number * IMAGE_BLOCK_SIZE)
        if len(value) != expected or not ctx.meter.edge.image_write(number * IMAGE_BLOCK_SIZE, value):
            return ActionResult.OTHER_REASON, None
        blocks = bytearray.fromhex(transfer["blocks"])
        blocks[number // 8] |= 0x80 >> (number % 8)
        changed = {**transfer, "blocks": blocks.hex(), "status": INITIATED}
        changed.pop("digest", None)
        self._keep(obj, ctx, changed)
        return ActionResult.SUCCESS, None

    def _verified(self, ctx: Context, transfer: dict[str, Any]) -> dict[str, Any]:
        """The transfer after a verification: status 3 with its digest (the image
        is recorded as ready for activation), or 4."""
        attempts = transfer.get("attempts", 0) + 1
        failed = {**transfer, "status": VERIFICATION_FAILED, "attempts": attempts}
        failed.pop("digest", None)
        size = transfer["size"]
        edge = ctx.meter.edge
        if self._first_missing(transfer) < self._count(transfer) or ctx.meter.fails("image-verify-fail", attempts):
            return failed
        digest = edge.image_hash(size)
        wanted = ctx.meter.image_policy.digest
        if wanted == SHA256_TRAILER:
            good = size > DIGEST_SIZE and edge.image_hash(size - DIGEST_SIZE) == edge.image_read(
                size - DIGEST_SIZE, size)
        else:
            good = wanted == ANY_IMAGE or bytes.fromhex(wanted) == digest
        if not good:
            return failed
        ctx.meter.record(FIRMWARE_READY)
        return {**transfer, "status": VERIFICATION_SUCCESSFUL, "attempts": attempts, "digest": digest.hex()}

    def do_image_verify(self, obj: CosemObject, parameters: Data | None,
                        ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 3 (data ::= integer (0)): every block there and the digest right:
        status (3); else (4) image verification failed and other-reason."""
        refused = self._usable(obj, parameters, (DataType.INTEGER, None), ctx)
        if refused is not None:
            return refused, None
        transfer = self.transfer(obj, ctx)
        if not INITIATED <= transfer["status"] <= VERIFICATION_FAILED:
            return ActionResult.OTHER_REASON, None
        transfer = self._verified(ctx, transfer)
        self._keep(obj, ctx, transfer)
        return (ActionResult.SUCCESS if transfer["status"] == VERIFICATION_SUCCESSFUL
                else ActionResult.OTHER_REASON), None

    def do_image_activate(self, obj: CosemObject, parameters: Data | None,
                          ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 4 (data ::= integer (0)): a verified image (an unverified one is
        verified first) is activated after the meter's activation_delay:
        status (5), then (6); a failed activation leaves (7) and other-reason."""
        refused = self._usable(obj, parameters, (DataType.INTEGER, None), ctx)
        if refused is not None:
            return refused, None
        transfer = self.transfer(obj, ctx)
        if transfer["status"] == ACTIVATION_INITIATED:
            return ActionResult.TEMPORARY_FAILURE, None
        if transfer["status"] in (INITIATED, VERIFICATION_FAILED):
            transfer = self._verified(ctx, transfer)
        if transfer["status"] != VERIFICATION_SUCCESSFUL:
            self._keep(obj, ctx, transfer)
            return ActionResult.OTHER_REASON, None
        attempts = transfer["attempts"] + 1
        if ctx.meter.fails("image-activate-fail", attempts):
            self._keep(obj, ctx, {**transfer, "status": ACTIVATION_FAILED, "attempts": attempts})
            ctx.meter.record(FIRMWARE_ACTIVATION_FAILED)
            return ActionResult.OTHER_REASON, None
        self._keep(obj, ctx, {**transfer, "status": ACTIVATION_INITIATED, "attempts": attempts})
        ctx.meter.edge.activate_image(ctx.meter.image_policy.activation_delay)
        return ActionResult.SUCCESS, None

    def activated(self, obj: CosemObject, ctx: Context) -> None:
        """The activation the edge carried out: the image's identifier is the
        active firmware from now on, and the event logs say so."""
        transfer = self.transfer(obj, ctx)
        if transfer["status"] != ACTIVATION_INITIATED:
            return
        ctx.meter.object_state[FIRMWARE] = transfer["id"]
        self._keep(obj, ctx, {**transfer, "status": ACTIVATION_SUCCESSFUL})
        ctx.meter.record(FIRMWARE_ACTIVATED)
