"""Device templates: a meter's object list, access rights and attribute values
as a TOML file (README "Device templates"), written by ``dlmstw-client clone``
and ``import-gurux``, served by ``model = template:FILE``.

The file::

    [template]
    format = 1
    source = "10.0.0.7:4059"          # where it was cloned from (for people)
    load_shape = "household"          # the simulator's load shape
    utc_offset = 0                    # seconds east of UTC of the meter's local time

    [simulate]                        # OBIS code -> simulated quantity (QUANTITIES)
    "1.0.32.7.0.255" = "voltage-l1"

    [[objects]]                       # in object-list order
    logical_name = "1.0.32.7.0.255"
    class_id = 3
    version = 0
    attributes = [                    # as the object list gave them (Blue Book 4.4.4)
      { id = 1, access = "read-only" },
      { id = 2, access = "read-only", value = { type = "long-unsigned", value = 2301 } },
      { id = 3, access = "read-only", selectors = [], value = { type = "structure", items = [...] } },
      { id = 4, access = "read-only", unreadable = "read-write-denied" },
    ]
    methods = [ { id = 1, access = "no-access" } ]

Values are typed tables (``dlmstw.codec.typed``), so a value served from the
template encodes to the bytes the cloned meter sent. ``selectors`` absent is
null-data in the object list, present is the array of access selectors.
Which attributes the simulator drives, and which are kept as written, is
DYNAMIC (per class); the rest of an object is static.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any, Final, Mapping

import tomli_w

from ..codec.axdr import Data
from ..codec.obis import CURRENT_ASSOCIATION, format_obis, parse_obis
from ..codec.typed import from_table, to_table
from ..cosem.classes.association_ln import AssociationLN
from ..enums import AttributeAccess, DataAccessResult, MethodAccess, enum_name

FORMAT: Final = 1
"""The version of the file format this module reads and writes."""
#: Largest device file read, a template or a Gurux device file (a meter's is some hundred kilobytes).
MAX_FILE: Final = 32 << 20
#: The most a meter's local time is from UTC, in seconds (Blue Book 4.1.6.1:
#: deviation -720..720 minutes).
MAX_UTC_OFFSET: Final = 720 * 60

#: The attributes a simulator may drive, per class_id; every other attribute is
#: static (kept as cloned). Which it does drive for an object of a template
#: is ``templated.served_attributes``. Data (1): value; Register (3) and Extended register (4): value and
#: capture time; Demand register (5): averages, status, times; Profile
#: generic (7): buffer and entries in use; Clock (8): time and status;
#: Association LN (15): object list, xDLMS context and status (they depend on
#: the association a request arrives on), and every attribute of the current
#: association 0.0.40.0.0.255 (CURRENT_ASSOCIATION_DYNAMIC).
DYNAMIC: Final[Mapping[int, frozenset[int]]] = {
    1: frozenset({2}),
    3: frozenset({2}),
    4: frozenset({2, 5}),
    5: frozenset({2, 3, 5, 6, 7}),
    7: frozenset({2, 7}),
    8: frozenset({2, 4}),
    15: frozenset({2, 5, 8}),
}
CURRENT_ASSOCIATION_DYNAMIC: Final = frozenset({2, 3, 4, 5, 6, 7, 8, 9})


def dynamic(class_id: int, logical_name: bytes) -> frozenset[int]:
    """The attributes of an object that a simulator may drive (DYNAMIC)."""
    if class_id == AssociationLN.class_id and logical_name == CURRENT_ASSOCIATION:
        return CURRENT_ASSOCIATION_DYNAMIC
    return DYNAMIC.get(class_id, frozenset())

#: The first Association LN version whose access modes are bit flags (read,
#: write, authenticated/encrypted/signed request and response; Blue Book
#: 4.4.4), not the access-mode enums a template holds: not supported.
FLAG_ACCESS_VERSION: Final = 3


def flag_access_refused(objects: Any) -> str | None:
    """Why objects listed by an Association LN of FLAG_ACCESS_VERSION or later cannot be a template, or None."""
    for obj in objects:
        if obj.class_id == AssociationLN.class_id and obj.logical_name == CURRENT_ASSOCIATION \
                and obj.version >= FLAG_ACCESS_VERSION:
            return (f"Association LN version {obj.version} gives access rights as bit flags "
                    f"(Blue Book 4.4.4), which templates do not hold (versions 0..{FLAG_ACCESS_VERSION - 1})")
    return None


#: The attributes ``clone`` does not read, per class_id: profile buffers (the
#: simulator computes them) and object lists (the directory makes them).
NOT_CLONED: Final[Mapping[int, frozenset[int]]] = {7: frozenset({2}), 15: frozenset({2})}


def _by_name(enum: Any) -> dict[str, Any]:
    """The members of ``enum`` by their standard spelling (``enum_name``)."""
    return {enum_name(member): member for member in enum}


ATTRIBUTE_ACCESS: Final = _by_name(AttributeAccess)
METHOD_ACCESS: Final = _by_name(MethodAccess)
RESULTS: Final = _by_name(DataAccessResult)


def _whole(value: Any, low: int, high: int) -> bool:
    """``value`` is an int (not a bool) in low..high."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_item(kind: str, index: Any, access: Any, modes: type) -> None:
    if not _whole(index, 1, 127):
        raise ValueError(f"{kind} id {index!r} is not 1..127")
    if not isinstance(access, modes):
        raise ValueError(f"{kind} {index}: access {access!r} is not one of {', '.join(map(enum_name, modes))}")


# Every way a template is made (loads, clone, import-gurux) makes these; their
# checks are the one place that says what a template may hold (the object
# list's ranges, Blue Book 4.4.4), so that what clone writes loads reads.


@dataclass(frozen=True, slots=True)
class TemplateAttribute:
    """One attribute: its access right and access selectors as the object list
    gave them (selectors None: null-data), and what reading it answered: a
    ``value``, or the Data-Access-Result ``unreadable`` (neither: not read)."""

    index: int
    access: AttributeAccess
    selectors: tuple[int, ...] | None = None
    value: Data | None = None
    unreadable: DataAccessResult | None = None

    def __post_init__(self) -> None:
        _check_item("attribute", self.index, self.access, AttributeAccess)
        if self.selectors is not None and not (isinstance(self.selectors, tuple)
                                               and all(_whole(s, -128, 127) for s in self.selectors)):
            raise ValueError(f"attribute {self.index}: selectors {self.selectors!r} are not integers -128..127")
        if self.value is not None and self.unreadable is not None:
            raise ValueError(f"attribute {self.index}: give 'value' or 'unreadable', not both")


@dataclass(frozen=True, slots=True)
class TemplateMethod:
    index: int
    access: MethodAccess

    def __post_init__(self) -> None:
        _check_item("method", self.index, self.access, MethodAccess)


@dataclass(frozen=True, slots=True)
class TemplateObject:
    logical_name: bytes
    class_id: int
    version: int
    attributes: tuple[TemplateAttribute, ...]
    methods: tuple[TemplateMethod, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.logical_name, bytes) or len(self.logical_name) != 6:
            raise ValueError(f"logical name {self.logical_name!r} is not 6 octets")
        if not _whole(self.class_id, 0, 65535):
            raise ValueError(f"class_id {self.class_id!r} is not 0..65535")
        if not _whole(self.version, 0, 255):
            raise ValueError(f"version {self.version!r} is not 0..255")
        for kind, items in (("attribute", self.attributes), ("method", self.methods)):
            indices = [item.index for item in items]
            if len(set(indices)) != len(indices):
                raise ValueError(f"an {kind} id is listed twice")

    @property
    def name(self) -> str:
        """How errors name the object: "class 3 1.0.32.7.0.255"."""
        return f"class {self.class_id} {format_obis(self.logical_name)}"

    def attribute(self, index: int) -> TemplateAttribute | None:
        return next((a for a in self.attributes if a.index == index), None)

    def value(self, index: int) -> Data | None:
        attribute = self.attribute(index)
        return None if attribute is None else attribute.value


@dataclass(frozen=True)
class Template:
    objects: tuple[TemplateObject, ...]
    simulate: Mapping[bytes, str] = field(default_factory=dict)
    load_shape: str = "household"
    utc_offset: int = 0
    source: str = ""


# -- writing -------------------------------------------------------------------------


def _attribute_table(attribute: TemplateAttribute) -> dict[str, Any]:
    table: dict[str, Any] = {"id": attribute.index, "access": enum_name(attribute.access)}
    if attribute.selectors is not None:
        table["selectors"] = list(attribute.selectors)
    if attribute.value is not None:
        table["value"] = to_table(attribute.value)
    if attribute.unreadable is not None:
        table["unreadable"] = enum_name(attribute.unreadable)
    return table


def dumps(template: Template) -> str:
    """The TOML text of ``template``."""
    head: dict[str, Any] = {"format": FORMAT, "source": template.source, "load_shape": template.load_shape,
                            "utc_offset": template.utc_offset}
    document: dict[str, Any] = {
        "template": head,
        "simulate": {format_obis(ln): quantity for ln, quantity in template.simulate.items()},
        "objects": [{
            "logical_name": format_obis(obj.logical_name),
            "class_id": obj.class_id,
            "version": obj.version,
            "attributes": [_attribute_table(a) for a in obj.attributes],
            "methods": [{"id": m.index, "access": enum_name(m.access)} for m in obj.methods],
        } for obj in template.objects],
    }
    return ("# dlmstw device template: dlmstw-client clone / import-gurux, served by model = template:FILE\n"
            + tomli_w.dumps(document))


# -- reading -------------------------------------------------------------------------


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise ValueError(f"{where}: '{key}' is missing")
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where}: '{key}' has the wrong type ({type(value).__name__})")
    return value


def _named(names: Mapping[str, Any], text: Any, where: str, what: str) -> Any:
    found = names.get(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"{where}: {what} {text!r} is not one of {', '.join(names)}")
    return found


def placed(where: str, error: ValueError) -> ValueError:
    """``error`` saying ``where`` (once)."""
    message = str(error)
    return ValueError(message if message.startswith(where) else f"{where}: {message}")


def _attribute(table: Any, where: str) -> TemplateAttribute:
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table")
    index = _get(table, "id", int, where)
    where = f"{where} (attribute {index})"
    selectors = _get(table, "selectors", list, where, None)
    value = table.get("value")
    unreadable = table.get("unreadable")
    try:
        return TemplateAttribute(
            index, _named(ATTRIBUTE_ACCESS, table.get("access"), where, "access"),
            None if selectors is None else tuple(selectors),
            None if value is None else from_table(value, f"{where} value"),
            None if unreadable is None else _named(RESULTS, unreadable, where, "unreadable"))
    except ValueError as error:
        raise placed(where, error) from None


def _object(table: Any, where: str) -> TemplateObject:
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table")
    text = _get(table, "logical_name", str, where)
    try:
        logical_name = parse_obis(text)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    class_id = _get(table, "class_id", int, where)
    where = f"{where} (class {class_id} {format_obis(logical_name)})"
    version = _get(table, "version", int, where)
    attributes = tuple(_attribute(a, f"{where} attributes[{i}]")
                       for i, a in enumerate(_get(table, "attributes", list, where)))
    methods = []
    for i, m in enumerate(_get(table, "methods", list, where, [])):
        place = f"{where} methods[{i}]"
        if not isinstance(m, dict):
            raise ValueError(f"{place}: expected a table")
        try:
            methods.append(TemplateMethod(_get(m, "id", int, place),
                                          _named(METHOD_ACCESS, m.get("access"), place, "access")))
        except ValueError as error:
            raise placed(place, error) from None
    try:
        return TemplateObject(logical_name, class_id, version, attributes, tuple(methods))
    except ValueError as error:
        raise placed(where, error) from None


def loads(text: str) -> Template:
    """The template of a TOML text; ValueError says what is wrong and where."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"not TOML: {error}") from None
    except RecursionError:
        raise ValueError("not TOML this reader takes: arrays or tables nested too deeply") from None
    head = _get(document, "template", dict, "[template]", {})
    version = _get(head, "format", int, "[template]", FORMAT)
    if version != FORMAT:
        raise ValueError(f"[template] format {version}: this dlmstw reads format {FORMAT}")
    unknown = set(document) - {"template", "simulate", "objects"}
    if unknown:
        raise ValueError(f"unknown table {sorted(unknown)[0]!r}; expected [template], [simulate], [[objects]]")
    objects = tuple(_object(t, f"objects[{i}]") for i, t in enumerate(_get(document, "objects", list, "the file")))
    refused = flag_access_refused(objects)
    if refused is not None:
        raise ValueError(refused)
    seen: set[bytes] = set()
    for obj in objects:
        if obj.logical_name in seen:
            raise ValueError(f"two objects have the logical name {format_obis(obj.logical_name)}")
        seen.add(obj.logical_name)
    simulate: dict[bytes, str] = {}
    for text_ln, quantity in _get(document, "simulate", dict, "[simulate]", {}).items():
        try:
            logical_name = parse_obis(text_ln)
        except ValueError as error:
            raise ValueError(f"[simulate]: {error}") from None
        if logical_name not in seen:
            raise ValueError(f"[simulate] {text_ln}: no object of the template has this logical name")
        if not isinstance(quantity, str):
            raise ValueError(f"[simulate] {text_ln}: the quantity must be a string")
        simulate[logical_name] = quantity
    utc_offset = _get(head, "utc_offset", int, "[template]", 0)
    if not -MAX_UTC_OFFSET <= utc_offset <= MAX_UTC_OFFSET:
        raise ValueError(f"[template] utc_offset {utc_offset} is not -{MAX_UTC_OFFSET}..{MAX_UTC_OFFSET} seconds")
    return Template(objects, simulate, _get(head, "load_shape", str, "[template]", "household"),
                    utc_offset, _get(head, "source", str, "[template]", ""))


def load(path: str) -> Template:
    """The template in the file at ``path``; ValueError (one line, without the path) when it cannot be used."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read(MAX_FILE + 1)
    except FileNotFoundError:
        raise ValueError("the file does not exist") from None
    except OSError as error:
        raise ValueError(f"cannot read the file: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text (byte {error.start})") from None
    if len(text) > MAX_FILE:
        raise ValueError(f"larger than {MAX_FILE >> 20} MiB")
    return loads(text)
