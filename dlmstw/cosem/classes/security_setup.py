"""Security setup, class_id 64, version 1 (Blue Book 4.4.7), one per
association (0.0.43.0.x.255 for the x-th association), and the invocation
counter the public client reads to learn which counter to use next
(0.0.43.1.x.255, a Data object whose value follows the counter rule).

``global_key_transfer`` unwraps the new keys with the association's master
key (AES key wrap, RFC 3394) and keeps them in the meter's security state:
they apply from the next association and survive restarts.

With security suite 1 or 2 the object also manages the public key
certificates of HLS-ECDSA (Green Book 9.2.6 and 9.2.7.4): the meter's digital
signature key pair (``generate_key_pair``), a PKCS #10 request for it
(``generate_certificate_request``), its certificate (self-signed until a
certification authority's is imported) and the certificates a client
imports: its own, whose key then checks its f(StoC), or a certification
authority's (``import_certificate``, ``export_certificate``,
``remove_certificate``, attribute ``certificates``). Certificates are checked
against the DLMS/COSEM profile, not against a chain of trust.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ...codec import axdr
from ...codec.axdr import Data
from ...enums import SECURITY_POLICIES, ActionResult, AttributeAccess, DataType
from ...errors import DecodeError
from ...security.certificates import (DIGITAL_SIGNATURE, SERVER, Classified, CertificateError, classify, der,
                                      issuer_bytes, load_certificate, serial_number_bytes, serial_numbers_from,
                                      signing_request, subject_alt_name_bytes, subject_bytes)
from ...security.ciphering import SecurityError
from ...security.keys import SUITE_CURVES, unwrap_key
from ..base import AttributeSpec, Context, CosemObject, Encoded, MethodSpec
from ..interface_class import InterfaceClass

#: global_key_transfer key_id (Blue Book 4.4.7) → the key it replaces.
KEY_IDS = {0: "block_cipher_key", 2: "authentication_key", 3: "master_key"}


#: certificate_identification_type (Blue Book 4.4.7).
BY_ENTITY = 0
BY_SERIAL = 1


def _association(obj: CosemObject, ctx: Context) -> Any:
    return ctx.directory.associations[obj.params["association"]]


def _certificates(obj: CosemObject, ctx: Context) -> list[Classified]:
    """The meter's own certificate for this object's suite, then the ones
    imported for its association."""
    association = _association(obj, ctx)
    security = ctx.meter.security
    own = security.server_certificate(association.security_suite, ctx.meter.system_title, ctx.t)
    return ([Classified(SERVER, DIGITAL_SIGNATURE, ctx.meter.system_title, own)]
            + security.certificates.get(association.name, []))


def _identified(parameters: Data | None, certificates: list[Classified]) -> Classified | ActionResult:
    """The certificate a certificate_identification names (Blue Book 4.4.7):
    structure {type enum, structure {entity enum, type enum, system_title
    octet-string} | structure {serial_number octet-string, issuer octet-string}}."""
    if parameters is None or parameters[0] != DataType.STRUCTURE or len(parameters[1]) != 2:
        return ActionResult.TYPE_UNMATCHED
    (kind_type, kind), (options_type, options) = parameters[1]
    if kind_type != DataType.ENUM or options_type != DataType.STRUCTURE:
        return ActionResult.TYPE_UNMATCHED
    types = [item[0] for item in options]
    if kind == BY_ENTITY and types == [DataType.ENUM, DataType.ENUM, DataType.OCTET_STRING]:
        wanted = tuple(item[1] for item in options)
        found = [c for c in certificates if (c.entity, c.certificate_type, c.system_title) == wanted]
    elif kind == BY_SERIAL and types == [DataType.OCTET_STRING, DataType.OCTET_STRING]:
        serials, issuer = serial_numbers_from(options[0][1]), options[1][1]
        found = [c for c in certificates
                 if c.certificate.serial_number in serials and issuer_bytes(c.certificate) == issuer]
    else:
        return ActionResult.TYPE_UNMATCHED
    return found[0] if found else ActionResult.OTHER_REASON


def _key_pair_type(parameters: Data | None) -> ActionResult | None:
    """key_pair_type (Blue Book 4.4.7): only (0) digital signature is provided."""
    if parameters is None or parameters[0] != DataType.ENUM:
        return ActionResult.TYPE_UNMATCHED
    return None if parameters[1] == DIGITAL_SIGNATURE else ActionResult.OTHER_REASON


class SecuritySetup(InterfaceClass):
    class_id = 64
    version = 1
    name = "Security setup"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "security_policy"),
        AttributeSpec(3, "security_suite"),
        AttributeSpec(4, "client_system_title"),
        AttributeSpec(5, "server_system_title"),
        AttributeSpec(6, "certificates"),
    )
    methods = (
        MethodSpec(1, "security_activate"),
        MethodSpec(2, "global_key_transfer"),
        MethodSpec(3, "key_agreement"),
        MethodSpec(4, "generate_key_pair"),
        MethodSpec(5, "generate_certificate_request"),
        MethodSpec(6, "import_certificate"),
        MethodSpec(7, "export_certificate"),
        MethodSpec(8, "remove_certificate"),
    )

    def read_security_policy(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_enum(SECURITY_POLICIES[_association(obj, ctx).security])

    def read_security_suite(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_enum(_association(obj, ctx).security_suite)

    def read_client_system_title(self, obj: CosemObject, ctx: Context) -> Encoded:
        """The title of the client last seen on this association (empty before any)."""
        title = ctx.meter.security.client_titles.get(_association(obj, ctx).name, b"")
        return axdr.encode_octet_string(title)

    def read_server_system_title(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_octet_string(ctx.meter.system_title)

    def read_certificates(self, obj: CosemObject, ctx: Context) -> Encoded:
        """array of certificate_info {entity enum, type enum, serial_number,
        issuer, subject, subject_alt_name} (Blue Book 4.4.7): the serial number
        as a big-endian integer, the names and subjectAltName as DER
        (RFC 5280 4.1.2.2, 4.1.2.4, 4.1.2.6, 4.2.1.6); empty for suite 0."""
        if _association(obj, ctx).security_suite not in SUITE_CURVES:
            return axdr.encode_array_header(0)
        certificates = _certificates(obj, ctx)
        parts = [axdr.encode_array_header(len(certificates))]
        for item in certificates:
            certificate = item.certificate
            parts += (axdr.encode_structure_header(6), axdr.encode_enum(item.entity),
                      axdr.encode_enum(item.certificate_type),
                      axdr.encode_octet_string(serial_number_bytes(certificate)),
                      axdr.encode_octet_string(issuer_bytes(certificate)),
                      axdr.encode_octet_string(subject_bytes(certificate)),
                      axdr.encode_octet_string(subject_alt_name_bytes(certificate)))
        return b"".join(parts)

    def do_global_key_transfer(self, obj: CosemObject, parameters: Data | None,
                               ctx: Context) -> tuple[ActionResult, bytes | None]:
        """array of key_data {key_id enum, key_wrapped octet-string}, each
        wrapped with the master key (Blue Book 4.4.7, method 2)."""
        association = _association(obj, ctx)
        security = ctx.meter.security
        master = security.keys_for(association).master_key
        if master is None:
            return ActionResult.OTHER_REASON, None
        if parameters is None or parameters[0] != DataType.ARRAY or not parameters[1]:
            return ActionResult.TYPE_UNMATCHED, None
        new_keys = {}
        for item in parameters[1]:
            if (item[0] != DataType.STRUCTURE or len(item[1]) != 2 or item[1][0][0] != DataType.ENUM
                    or item[1][1][0] != DataType.OCTET_STRING or item[1][0][1] not in KEY_IDS):
                return ActionResult.TYPE_UNMATCHED, None
            try:
                new_keys[KEY_IDS[item[1][0][1]]] = unwrap_key(master, item[1][1][1])
            except SecurityError:
                return ActionResult.OTHER_REASON, None
            if len(new_keys[KEY_IDS[item[1][0][1]]]) != len(master):
                return ActionResult.OTHER_REASON, None
        security.change_keys(association.name, new_keys)
        return ActionResult.SUCCESS, None

    def do_generate_key_pair(self, obj: CosemObject, parameters: Data | None,
                             ctx: Context) -> tuple[ActionResult, bytes | None]:
        """key_pair_type enum (Blue Book 4.4.7, method 4): a new digital signature
        key pair of the suite's curve; a self-signed certificate follows it."""
        suite = _association(obj, ctx).security_suite
        refused = ActionResult.OTHER_REASON if suite not in SUITE_CURVES else _key_pair_type(parameters)
        if refused is not None:
            return refused, None
        ctx.meter.security.new_signing_key(suite)
        return ActionResult.SUCCESS, None

    def do_generate_certificate_request(self, obj: CosemObject, parameters: Data | None,
                                        ctx: Context) -> tuple[ActionResult, bytes | None]:
        """key_pair_type enum (Blue Book 4.4.7, method 5): returns the PKCS #10
        request (DER, octet-string) for the meter's signing key, subject CN =
        its system title."""
        suite = _association(obj, ctx).security_suite
        refused = ActionResult.OTHER_REASON if suite not in SUITE_CURVES else _key_pair_type(parameters)
        if refused is not None:
            return refused, None
        request = signing_request(ctx.meter.security.signing_key(suite), ctx.meter.system_title)
        return ActionResult.SUCCESS, axdr.encode_octet_string(request)

    def do_import_certificate(self, obj: CosemObject, parameters: Data | None,
                              ctx: Context) -> tuple[ActionResult, bytes | None]:
        """octet-string, an X.509 certificate in DER (Blue Book 4.4.7, method 6):
        the meter's own (it must certify the meter's signing key), a client's or
        a certification authority's; other-reason when the profile refuses it
        (Green Book 9.2.6) or it is not valid at the meter's time."""
        association = _association(obj, ctx)
        if association.security_suite not in SUITE_CURVES:
            return ActionResult.OTHER_REASON, None
        if parameters is None or parameters[0] != DataType.OCTET_STRING:
            return ActionResult.TYPE_UNMATCHED, None
        try:
            certificate = load_certificate(parameters[1])
            classified = classify(certificate, association.security_suite, ctx.meter.system_title)
        except (DecodeError, CertificateError):
            return ActionResult.OTHER_REASON, None
        if not (certificate.not_valid_before_utc.timestamp() <= ctx.t <= certificate.not_valid_after_utc.timestamp()):
            return ActionResult.OTHER_REASON, None
        if not ctx.meter.security.import_certificate(association.name, association.security_suite, classified):
            return ActionResult.OTHER_REASON, None
        return ActionResult.SUCCESS, None

    def do_export_certificate(self, obj: CosemObject, parameters: Data | None,
                              ctx: Context) -> tuple[ActionResult, bytes | None]:
        """certificate_identification (Blue Book 4.4.7, method 7): returns the
        certificate (DER, octet-string)."""
        if _association(obj, ctx).security_suite not in SUITE_CURVES:
            return ActionResult.OTHER_REASON, None
        found = _identified(parameters, _certificates(obj, ctx))
        if isinstance(found, ActionResult):
            return found, None
        return ActionResult.SUCCESS, axdr.encode_octet_string(der(found.certificate))

    def do_remove_certificate(self, obj: CosemObject, parameters: Data | None,
                              ctx: Context) -> tuple[ActionResult, bytes | None]:
        """certificate_identification (Blue Book 4.4.7, method 8): forgets an
        imported certificate; the meter's own cannot be removed."""
        association = _association(obj, ctx)
        if association.security_suite not in SUITE_CURVES:
            return ActionResult.OTHER_REASON, None
        found = _identified(parameters, _certificates(obj, ctx))
        if isinstance(found, ActionResult):
            return found, None
        if found.entity == SERVER:
            return ActionResult.OTHER_REASON, None
        ctx.meter.security.remove_certificate(association.name, found)
        return ActionResult.SUCCESS, None


def security_setup_objects(classes: Mapping[int, Any], associations: Sequence[Any]) -> list[CosemObject]:
    """One Security setup and one invocation counter per association (x = index + 1)."""
    objects = []
    for index, association in enumerate(associations):
        x = index + 1
        objects.append(CosemObject(bytes((0, 0, 43, 0, x, 255)), classes[64], {"association": index},
                                   f"Security setup of association {association.name}"))
        name = association.name
        objects.append(CosemObject(
            bytes((0, 0, 43, 1, x, 255)), classes[1],
            {"value": lambda ctx, name=name: (DataType.DOUBLE_LONG_UNSIGNED,
                                              ctx.meter.security.client_counters.get(name, 0))},
            f"Invocation counter of association {name}", {2: AttributeAccess.READ_ONLY}))
    return objects
