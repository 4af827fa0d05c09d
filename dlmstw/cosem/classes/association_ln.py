"""Association LN, class_id 15, version 1 (Blue Book 4.4.4).

0.0.40.0.0.255 always describes the association the request arrives on;
0.0.40.0.x.255 describes the x-th association configured for the meter
(``params['association']`` = its index in the directory's association list),
or the association of client SAP ``params['client_sap']`` (a device
template's object; the current one when the lab has none of that SAP).
Method 1, reply_to_HLS_authentication, is HLS passes 3 and 4 (Green Book
9.2.7.4): the association layer serves nothing else until it succeeds.
"""

from __future__ import annotations

from dataclasses import replace

from ...codec import axdr
from ...codec.axdr import Data
from ...enums import (ActionResult, AssociationStatus, AttributeAccess, AuthenticationMechanism, DataAccessResult,
                      DataType)
from ..base import AttributeSpec, Context, CosemObject, Encoded, MethodSpec
from ..interface_class import InterfaceClass

APPLICATION_CONTEXT_PREFIX = bytes.fromhex("60857405080101")[:-1]
MECHANISM_PREFIX = bytes.fromhex("60857405080200")[:-1]


class AssociationLN(InterfaceClass):
    class_id = 15
    version = 1
    name = "Association LN"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "object_list"),
        AttributeSpec(3, "associated_partners_id"),
        AttributeSpec(4, "application_context_name"),
        AttributeSpec(5, "xdlms_context_info"),
        AttributeSpec(6, "authentication_mechanism_name"),
        AttributeSpec(7, "secret", AttributeAccess.WRITE_ONLY),
        AttributeSpec(8, "association_status"),
        AttributeSpec(9, "security_setup_reference"),
    )
    methods = (
        MethodSpec(1, "reply_to_hls_authentication", always=True),
        MethodSpec(2, "change_hls_secret"),
        MethodSpec(3, "add_object"),
        MethodSpec(4, "remove_object"),
    )

    def _described(self, obj: CosemObject, ctx: Context) -> int:
        """Index of the association this object describes."""
        index = obj.params.get("association")
        if index is None:
            directory = ctx.directory
            sap = obj.params.get("client_sap")
            if sap is not None and sap in directory.client_saps:
                return directory.association_index(sap)
            return directory.association_index(ctx.association.client_sap)
        return int(index)

    def read_object_list(self, obj: CosemObject, ctx: Context) -> Encoded:
        return ctx.directory.object_list(self._described(obj, ctx))

    def read_associated_partners_id(self, obj: CosemObject, ctx: Context) -> Encoded:
        association = ctx.directory.associations[self._described(obj, ctx)]
        return axdr.encode_data((DataType.STRUCTURE, [(DataType.INTEGER, association.client_sap),
                                                      (DataType.LONG_UNSIGNED, 1)]))

    def read_application_context_name(self, obj: CosemObject, ctx: Context) -> Encoded:
        association = ctx.directory.associations[self._described(obj, ctx)]
        context_id = 3 if association.context == "ln-ciphered" else 1
        return axdr.encode_octet_string(APPLICATION_CONTEXT_PREFIX + bytes([context_id]))

    def read_xdlms_context_info(self, obj: CosemObject, ctx: Context) -> Encoded:
        """The negotiated context for the current association; the meter's
        offer for one that is not in use (Blue Book 4.4.4, attribute 5)."""
        current = ctx.association
        directory = ctx.directory
        if self._described(obj, ctx) == directory.association_index(current.client_sap):
            conformance, max_receive, max_send = (current.conformance, current.server_max_receive_pdu_size,
                                                  current.client_max_receive_pdu_size)
        else:
            conformance, max_receive, max_send = (directory.conformance, directory.max_receive_pdu_size,
                                                  directory.max_receive_pdu_size)
        return axdr.encode_data((DataType.STRUCTURE, [
            (DataType.BIT_STRING, axdr.BitString(format(conformance, "024b"))),
            (DataType.LONG_UNSIGNED, max_receive),
            (DataType.LONG_UNSIGNED, max_send),
            (DataType.UNSIGNED, 6),
            (DataType.INTEGER, 0),
            (DataType.OCTET_STRING, b""),
        ]))

    def read_authentication_mechanism_name(self, obj: CosemObject, ctx: Context) -> Encoded:
        association = ctx.directory.associations[self._described(obj, ctx)]
        return axdr.encode_octet_string(MECHANISM_PREFIX + bytes([ctx.directory.mechanism(association).mechanism_id]))

    def read_association_status(self, obj: CosemObject, ctx: Context) -> Encoded:
        described = self._described(obj, ctx)
        current = ctx.association
        if current is not None and described == ctx.directory.association_index(current.client_sap):
            return axdr.encode_enum(current.status)
        return axdr.encode_enum(AssociationStatus.NON_ASSOCIATED)

    def read_security_setup_reference(self, obj: CosemObject, ctx: Context) -> Encoded:
        """The association's Security setup, 0.0.43.0.x.255 (see ``security_setup``)."""
        return axdr.encode_octet_string(bytes((0, 0, 43, 0, self._described(obj, ctx) + 1, 255)))

    def write_secret(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        """Attribute 7 (Blue Book 4.4.4): a new LLS password, used from the
        next association and kept across restarts."""
        association = ctx.directory.associations[self._described(obj, ctx)]
        if "lls_password" not in ctx.directory.mechanism(association).required_keys:
            return DataAccessResult.READ_WRITE_DENIED
        if value[0] != DataType.OCTET_STRING or not value[1]:
            return DataAccessResult.TYPE_UNMATCHED
        ctx.meter.security.change_keys(association.name, {"lls_password": value[1]})
        return DataAccessResult.SUCCESS

    def do_reply_to_hls_authentication(self, obj: CosemObject, parameters: Data | None,
                                       ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 1 (Blue Book 4.4.4), HLS passes 3 and 4 (Green Book 9.2.7.4):
        the client's f(StoC) is checked with the association's mechanism. Right,
        the result is success with the meter's f(CtoS) under its next
        invocation counter; wrong, or with no HLS pending, read-write-denied.
        The association layer takes the result as the verdict. The invocation
        counter in an HLS-GMAC f(StoC) obeys the counter rule, unless the
        ACTION came protected and its own counter did."""
        association = ctx.association
        inputs = association.hls
        if (inputs is None or association.status != AssociationStatus.ASSOCIATION_PENDING
                or parameters is None or parameters[0] != DataType.OCTET_STRING):
            return ActionResult.READ_WRITE_DENIED, None
        mechanism = ctx.directory.mechanism(ctx.directory.associations[self._described(obj, ctx)])
        counter = mechanism.verify_client(inputs, parameters[1])
        security = ctx.meter.security
        if counter is None or (mechanism.mechanism_id == AuthenticationMechanism.HLS_GMAC
                               and not association.request_protected
                               and not security.accept_client_counter(association.name, counter)):
            return ActionResult.READ_WRITE_DENIED, None
        proof = mechanism.server_proof(replace(inputs, server_invocation_counter=security.next_counter()))
        return ActionResult.SUCCESS, axdr.encode_octet_string(proof)

    def do_change_hls_secret(self, obj: CosemObject, parameters: Data | None,
                             ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 2 (Blue Book 4.4.4): a new HLS secret for the mechanisms
        that use one (3, 4 and 6), used from the next association and kept
        across restarts."""
        association = ctx.directory.associations[self._described(obj, ctx)]
        if "hls_secret" not in ctx.directory.mechanism(association).required_keys:
            return ActionResult.READ_WRITE_DENIED, None
        if parameters is None or parameters[0] != DataType.OCTET_STRING or not parameters[1]:
            return ActionResult.TYPE_UNMATCHED, None
        ctx.meter.security.change_keys(association.name, {"hls_secret": parameters[1]})
        return ActionResult.SUCCESS, None
