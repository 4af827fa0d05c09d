"""Plugin interfaces (zope.interface), found with ``twisted.plugin.getPlugins``,
and the ``Tracer`` protocol the decoders of every layer report to.

A leaf module: every layer may import it. Built-in plugins register exactly
like third-party ones (see ``dlmstw/plugins/dlmstw_builtin.py``).
"""

from typing import Protocol

from zope.interface import Attribute, Interface


class Tracer(Protocol):
    """What a decoder reads, reported in byte order: the one grammar's trace.

    The decoders of ``dlmstw.framing``, ``dlmstw.codec`` and
    ``dlmstw.security.ciphering`` take an optional tracer; without one they pay
    nothing for it, and with one they return and raise exactly as without.
    Offsets count from the start of the buffer handed to the decoder. Fields
    tile what was read: no gaps, no overlaps. A field whose octets hold a
    structure of their own is reported whole (``apdu``: an xDLMS APDU;
    ``protected``: ``SH || body || T``, read by ``split_protected``). A decoder
    that raises ``DecodeError`` leaves the groups it entered open; what it
    reported before is all true. The dissector is a tracer plus wording.
    """

    def enter(self, name: str, offset: int) -> None:
        """A group of fields named ``name`` (an ASN.1 component) starts at ``offset``."""

    def field(self, name: str, offset: int, length: int, value: object) -> None:
        """The ``length`` octets at ``offset`` are the field ``name``, decoded as ``value``."""

    def leave(self, end: int) -> None:
        """The innermost group entered ends at ``end``."""


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

    def reader(obj, attribute_id):  # type: ignore[no-untyped-def]
        """``get`` of one attribute of ``obj`` resolved once: a callable of the
        request's context, called for every GET without selective access."""

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
    """An authentication mechanism of the Green Book (9.2.7.4).

    ``new_challenge``, ``server_proof`` and ``verify_client`` are the 4-pass
    exchange of the HLS mechanisms (``hls`` True); the others provide only
    ``check_lls``.
    """

    mechanism_id = Attribute("int: last arc of the mechanism name OID (0..7)")
    name = Attribute("str: the lab.ini spelling, e.g. 'lls' or 'hls-gmac'")
    hls = Attribute("bool: True for the 4-pass mechanisms (2..7)")
    required_keys = Attribute("tuple[str, ...]: the keys of lab.ini's [association:NAME] an association "
                              "with this mechanism must set, e.g. ('lls_password',)")
    asymmetric = Attribute("bool: True when f(StoC) and f(CtoS) are signatures with key pairs of the "
                           "association's security suite, which must then be asymmetric (HLS-ECDSA)")
    titled = Attribute("bool: True when f(StoC) and f(CtoS) are computed over the system titles, which the "
                       "AARQ and AARE then carry even outside the ciphered context (HLS-GMAC, -SHA256, -ECDSA)")

    def check_lls(configured_secret, calling_authentication_value):  # type: ignore[no-untyped-def]
        """Check the AARQ's calling-authentication-value: for LLS, True when it
        is the secret; for HLS, True when it is a CtoS challenge of a length the
        mechanism accepts."""

    def new_challenge():  # type: ignore[misc, no-untyped-def]
        """HLS pass 2: a fresh random StoC (bytes) for the AARE."""

    def server_proof(inputs):  # type: ignore[no-untyped-def]
        """HLS pass 4: f(CtoS) (bytes), returned by reply_to_HLS_authentication;
        ``inputs`` is an ``HlsInputs`` (dlmstw.security.hls)."""

    def verify_client(inputs, proof):  # type: ignore[no-untyped-def]
        """HLS pass 3: check the client's f(StoC). Return None when it is wrong,
        else the invocation counter it carries (HLS-GMAC) or 0, so the caller
        can apply the counter rule."""


class ISecuritySuite(Interface):
    """A security suite of the Green Book (9.2.3): ciphering and key agreement.

    The public-key methods exist for the asymmetric suites (1 and 2) only;
    suite 0 raises ValueError from them.
    """

    suite_id = Attribute("int: the suite's id in the security control byte (0..15), as lab.ini's security_suite")
    key_length = Attribute("int: bytes of the block cipher, authentication and key encrypting keys (16 or 32)")
    asymmetric = Attribute("bool: True when the suite has the public-key methods (ECDSA and ECDH: suites 1 and 2)")

    def cipher(block_cipher_key, authentication_key):  # type: ignore[no-untyped-def]
        """The ciphering under these keys, prepared once (Green Book 9.2.7.2.4):
        an object with ``protect(plain, security_control, system_title,
        invocation_counter)`` -> SH || (ciphertext or plain text) || T,
        ``unprotect(protected, system_title)`` -> (security control, invocation
        counter, plain text), which raises ``SecurityError`` (a ``DecodeError``)
        and nothing else on bad input, and ``authentication_tag(security_control,
        system_title, invocation_counter, data)`` -> the 12-byte GMAC tag of
        HLS-GMAC (9.2.7.4); security controls name this suite. ValueError when
        the keys do not fit the suite."""

    def wrap_key(kek, key):  # type: ignore[no-untyped-def]
        """AES key wrap (RFC 3394) under a KEK of ``key_length`` bytes (key_transfer)."""

    def unwrap_key(kek, wrapped):  # type: ignore[no-untyped-def]
        """Undo ``wrap_key``; ``SecurityError`` when the integrity check fails."""

    def generate_key_pair():  # type: ignore[misc, no-untyped-def]
        """A new EC private key on the suite's curve (P-256 or P-384)."""

    def public_key_bytes(key):  # type: ignore[no-untyped-def]
        """The public key as X || Y without the 04 prefix."""

    def public_key_from_bytes(data):  # type: ignore[no-untyped-def]
        """Parse X || Y; ``SecurityError`` when it is not a point of the curve."""

    def sign(private_key, data):  # type: ignore[no-untyped-def]
        """ECDSA with the suite's hash; the signature as r || s."""

    def verify(public_key, data, signature):  # type: ignore[no-untyped-def]
        """True when ``signature`` (r || s) is valid for ``data``."""

    def key_agreement(private_key, peer_public_key):  # type: ignore[no-untyped-def]
        """The ECDH shared secret (the x coordinate)."""


class IObjectDirectory(Interface):
    """What the association layer calls upward: the meter's object model.

    Injected into each ``Session`` (as amp's ``IBoxReceiver`` is), so the
    association layer never imports the COSEM layer.
    """

    def get(attribute, selective_access, association):  # type: ignore[no-untyped-def]
        """Return encoded Data (bytes or an iterable of chunks) or a DataAccessResult."""

    def reader(attribute, association):  # type: ignore[no-untyped-def]
        """``get`` without selective access, with the object, its class and the
        association's right to the attribute resolved once: a callable of no
        arguments for the GET hot path. The association's rights never change
        while it lasts."""

    def set(attribute, selective_access, value, association):  # type: ignore[no-untyped-def]
        """Return a DataAccessResult."""

    def action(method, parameters, association):  # type: ignore[no-untyped-def]
        """Return ``(ActionResult, encoded return data or None)``."""


class ISecurityStore(Interface):
    """A meter's keys, invocation counters and certificates (Green Book 9.2):
    what associations and the Security setup and Association LN objects use
    (``security.store.MeterSecurity``; the server saves it)."""

    id = Attribute("str: the part of the meter's saved state this store is")
    client_titles = Attribute("dict: the system title of the client last associated, per association name")
    client_counters = Attribute("dict: the last invocation counter accepted, per association name")
    certificates = Attribute("dict: the client and CA certificates imported, per association name")

    def keys_for(association):  # type: ignore[no-untyped-def]
        """The association's keys (``Keys``): lab.ini's unless changed at run time."""

    def change_keys(association, keys):  # type: ignore[no-untyped-def]
        """New keys (name -> bytes) for the association's next associations, taken together and saved."""

    def next_counter():  # type: ignore[misc, no-untyped-def]
        """The meter's next invocation counter: never one used before."""

    def lowest_client_counter(association):  # type: ignore[no-untyped-def]
        """The lowest invocation counter the association's client may use next."""

    def accept_client_counter(association, counter):  # type: ignore[no-untyped-def]
        """The counter rule (Green Book 9.2.7.2.4): True, and kept, when above the last accepted."""

    def signing_key(suite):  # type: ignore[no-untyped-def]
        """The meter's ECDSA private key of security suite 1 or 2, made on first use."""

    def new_signing_key(suite):  # type: ignore[no-untyped-def]
        """A new key pair for the suite (Security setup generate_key_pair)."""

    def server_certificate(suite, system_title, now):  # type: ignore[no-untyped-def]
        """The meter's certificate for the suite's signing key (self-signed until one is imported)."""

    def import_certificate(association, suite, classified):  # type: ignore[no-untyped-def]
        """Keep an imported certificate; False when it does not fit (Security setup import_certificate)."""

    def remove_certificate(association, classified):  # type: ignore[no-untyped-def]
        """Forget an imported certificate (Security setup remove_certificate)."""

    def client_public_key(association, client_title):  # type: ignore[no-untyped-def]
        """The key that checks the client's f(StoC) for HLS-ECDSA, or None."""


class IMeterEdge(Interface):
    """What a meter's COSEM objects ask of the world outside the meter: the
    Twisted edge (``server.push``) provides it, so the COSEM layer never
    imports the reactor and no module reaches back up."""

    def push(request):  # type: ignore[no-untyped-def]
        """Send a push (``cosem.classes.push_setup.PushRequest``) in the
        background: framed, protected and sent as its push setup says."""

    def schedule_changed():  # type: ignore[misc, no-untyped-def]
        """A Single action schedule, the passive calendar's activation time
        or the clock changed: the timers of the meter's schedules are
        computed again."""

    def occurred(kind):  # type: ignore[no-untyped-def]
        """The meter recorded ``kind`` (``simulator.events`` kinds): push an alarm when it is one."""

    def raise_alarm():  # type: ignore[misc, no-untyped-def]
        """The alarm push setup pushes, whatever was recorded (a scenario's alarm step)."""

    def image_write(offset, data):  # type: ignore[no-untyped-def]
        """Write ``data`` at ``offset`` of the meter's firmware image (a file in
        ``state_dir``); False when it cannot be written."""

    def image_read(start, end):  # type: ignore[no-untyped-def]
        """Octets ``start`` to ``end`` of the image (b"" where it has none)."""

    def image_hash(size):  # type: ignore[no-untyped-def]
        """The SHA-256 of the image's first ``size`` octets."""

    def image_discard():  # type: ignore[misc, no-untyped-def]
        """Forget the image (a new transfer starts)."""

    def activate_image(delay):  # type: ignore[no-untyped-def]
        """In ``delay`` seconds, restart the meter on the new image: its
        connections drop and its image transfer object's ``activated`` runs."""
