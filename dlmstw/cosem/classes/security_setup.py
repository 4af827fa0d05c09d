"""Security setup, class_id 64, version 1 (Blue Book 4.4.7), one per
association (0.0.43.0.x.255 for the x-th association), and the invocation
counter the public client reads to learn which counter to use next
(0.0.43.1.x.255, a Data object whose value follows the counter rule).

``global_key_transfer`` unwraps the new keys with the association's master
key (AES key wrap, RFC 3394) and keeps them in the meter's security state:
they apply from the next association and survive restarts.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ...codec import axdr
from ...codec.axdr import Data
from ...enums import ActionResult, AttributeAccess, DataType
from ...security.ciphering import SecurityError
from ...security.keys import unwrap_key
from ..base import AttributeSpec, Context, CosemObject, Encoded, MethodSpec
from ..interface_class import InterfaceClass

#: security_policy of version 1 (Blue Book 4.4.7): the bits of what is
#: authenticated / encrypted in requests and responses.
POLICY = {
    "none": 0,
    "authentication": 0x04 | 0x20,
    "encryption": 0x08 | 0x40,
    "authenticated-encryption": 0x04 | 0x08 | 0x20 | 0x40,
}
#: global_key_transfer key_id (Blue Book 4.4.7) → the key it replaces.
KEY_IDS = {0: "block_cipher_key", 2: "authentication_key", 3: "master_key"}


def _association(obj: CosemObject, ctx: Context) -> Any:
    return ctx.directory.associations[obj.params["association"]]


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
        return axdr.encode_enum(POLICY[_association(obj, ctx).security])

    def read_security_suite(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_enum(_association(obj, ctx).security_suite)

    def read_client_system_title(self, obj: CosemObject, ctx: Context) -> Encoded:
        """The title of the client last seen on this association (empty before any)."""
        title = ctx.meter.security.client_titles.get(_association(obj, ctx).name, b"")
        return axdr.encode_octet_string(title)

    def read_server_system_title(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_octet_string(ctx.meter.system_title)

    def read_certificates(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_array_header(0)

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
        for name, key in new_keys.items():
            security.change_key(association.name, name, key)
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
