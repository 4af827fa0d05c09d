"""Plugin interfaces (zope.interface), found with ``twisted.plugin.getPlugins``.

A leaf module: every layer may import it. Built-in plugins register exactly
like third-party ones (see ``dlmstw/plugins/dlmstw_builtin.py``).
"""

from zope.interface import Attribute, Interface


class IInterfaceClass(Interface):
    """A COSEM interface class (Blue Book 4): its attributes, methods and behaviour."""

    class_id = Attribute("int: the class_id of the Blue Book")
    version = Attribute("int: the version of the class this plugin implements")
    name = Attribute("str: the Blue Book name, e.g. 'Register'")
    attributes = Attribute("tuple[AttributeSpec, ...]: attribute 1 (logical_name) first")
    methods = Attribute("tuple[MethodSpec, ...]")

    def get(obj, attribute_id, request):  # type: ignore[no-untyped-def]
        """Return the attribute's value as encoded A-XDR ``Data`` (bytes, or an
        iterable of byte chunks for long values), or a ``DataAccessResult``."""

    def get_selective(obj, attribute_id, selector, parameters, request):  # type: ignore[no-untyped-def]
        """The same with selective access (Blue Book 4.1.2.4): ``selector`` and
        its decoded ``parameters``; a ``DataAccessResult`` when refused."""

    def set(obj, attribute_id, value, request):  # type: ignore[no-untyped-def]
        """Write a decoded ``Data`` value; return a ``DataAccessResult``."""

    def action(obj, method_id, parameters, request):  # type: ignore[no-untyped-def]
        """Invoke a method; return ``(ActionResult, encoded return data or None)``."""


class IObjectSet(Interface):
    """A named set of COSEM objects that a meter model includes (lab.ini ``model =``)."""

    name = Attribute("str: the name lab.ini uses, e.g. 'is15959-abt'")
    description = Attribute("str: one line for humans")
    load_shape = Attribute("str: the simulator's load shape for meters of this model ('feeder', 'household')")
    utc_offset = Attribute("int: seconds east of UTC of the meters' local time")

    def objects(classes):  # type: ignore[no-untyped-def]
        """Return the ``CosemObject`` instances of the set; ``classes`` maps
        class_id to the ``IInterfaceClass`` providers found as plugins."""


class IAuthenticationMechanism(Interface):
    """An authentication mechanism of the Green Book (9.2.7.4)."""

    mechanism_id = Attribute("int: last arc of the mechanism name OID (0..7)")
    name = Attribute("str: the lab.ini spelling, e.g. 'lls' or 'hls-gmac'")
    hls = Attribute("bool: True for the 4-pass mechanisms (2..7)")

    def check_lls(configured_secret, calling_authentication_value):  # type: ignore[no-untyped-def]
        """For LLS: True when the AARQ's authentication value is the secret."""


class ISecuritySuite(Interface):
    """A security suite of the Green Book (9.2.3.x): ciphering and key agreement."""

    suite_id = Attribute("int: 0, 1 or 2")


class IObjectDirectory(Interface):
    """What the association layer calls upward: the meter's object model.

    Injected into each ``Session`` (as amp's ``IBoxReceiver`` is), so the
    association layer never imports the COSEM layer.
    """

    def get(attribute, selective_access, association):  # type: ignore[no-untyped-def]
        """Return encoded Data (bytes or an iterable of chunks) or a DataAccessResult."""

    def set(attribute, selective_access, value, association):  # type: ignore[no-untyped-def]
        """Return a DataAccessResult."""

    def action(method, parameters, association):  # type: ignore[no-untyped-def]
        """Return ``(ActionResult, encoded return data or None)``."""
