"""``model = template:FILE``: a device template (``dlmstw.models.template``)
served as a meter model.

The meter serves exactly the template's objects, in its order, with its
classes' versions and access rights; each object is served by the installed
interface class of its class_id. Static attributes answer what the template
keeps (a value, or the Data-Access-Result it recorded); the dynamic ones
(``template.dynamic``) of the objects the simulator drives come from the data
simulator:

* a Register, Extended register or Data object with a simulated quantity (the
  ``[simulate]`` table, else ``default_quantity`` by its OBIS code), scaled by
  its scaler_unit and encoded in the type the template gives its value;
* a Demand register whose quantity is an energy;
* every Clock (its time and status follow the meter's clock);
* every Profile generic with a capture period of 60..86400 seconds dividing
  the day whose capture objects are in the template (its rows computed from
  them, at most load_profile_days of periods); other profiles hold no entries;
* every Association LN (the object list and status of the association it
  describes: 0.0.40.0.0.255 the current one, another the lab's association of
  the client SAP in its associated_partners_id).

A quantity ``kept`` in ``[simulate]`` keeps an object's values as cloned. An
object without a quantity keeps them too. The classes whose attributes are
configured values (``ConfiguredClass``: script tables, calendars, push
setups...) get the template's values as their configuration, so that their
methods act on them.
"""

from __future__ import annotations

from typing import Any, Callable, Final, Mapping

from zope.interface import implementer

from ..codec import axdr
from ..codec.axdr import Data
from ..codec.obis import CURRENT_ASSOCIATION, format_obis
from ..cosem.base import Context, CosemObject, Listing, divides_the_day
from ..cosem.classes.association_ln import AssociationLN
from ..cosem.classes.configured import ConfiguredClass
from ..cosem.classes.data import DataClass
from ..cosem.classes.profile_generic import ProfileGeneric
from ..cosem.classes.register import INTEGER_RANGES, DemandRegister, ExtendedRegister, Register
from ..cosem.classes.security_setup import SecuritySetup
from ..cosem.directory import EMPTY_ARRAY
from ..enums import DataAccessResult, DataType, Unit, enum_name
from ..interfaces import IInterfaceClass, IObjectSet
from ..simulator.shapes import SHAPES
from ..simulator.sources import Cumulative, Instantaneous, Interval
from .common import block, cumulative, instantaneous, phase_active_power
from .template import Template, TemplateObject, dynamic

Source = Callable[[Context], float]

#: The simulated quantities a ``[simulate]`` table may name (SI units: V, A, W,
#: var, VA, Hz, Wh, varh, VAh; power factor as a ratio), besides ``kept``:
#: instantaneous values, cumulative totals, the averages and energies of the
#: last load-profile period (``block-``), and the meter's serial number.
QUANTITIES: Final[Mapping[str, Source]] = {
    **{name.replace("_", "-"): instantaneous(name) for name in Instantaneous._fields},
    **{name.replace("_", "-"): cumulative(name) for name in Cumulative._fields},
    **{f"active-power-l{phase}": phase_active_power(phase) for phase in (1, 2, 3)},
    **{"block-" + name.replace("_", "-"): block(name) for name in Interval._fields},
    "serial": lambda ctx: ctx.meter.serial,
}
KEPT: Final = "kept"
#: Energies (cumulative quantities) by the C value group of electricity (A = 1).
ENERGIES: Final = {1: "active-energy-import", 2: "active-energy-export", 5: "reactive-energy-lag",
                   8: "reactive-energy-lead", 9: "apparent-energy"}
#: Instantaneous values (D = 7) by the C value group of electricity.
INSTANTANEOUS: Final = {
    1: "active-power-import", 2: "active-power-export", 3: "reactive-power", 9: "apparent-power",
    13: "power-factor", 14: "frequency", 21: "active-power-l1", 41: "active-power-l2", 61: "active-power-l3",
    31: "current-l1", 51: "current-l2", 71: "current-l3", 32: "voltage-l1", 52: "voltage-l2", 72: "voltage-l3",
    33: "power-factor-l1", 53: "power-factor-l2", 73: "power-factor-l3",
}
#: Averages over the load-profile period (D = 27) by the C value group of electricity.
AVERAGES: Final = {32: "block-avg-voltage-l1", 52: "block-avg-voltage-l2", 72: "block-avg-voltage-l3",
                   31: "block-avg-current-l1", 51: "block-avg-current-l2", 71: "block-avg-current-l3",
                   14: "block-avg-frequency", 13: "block-avg-power-factor"}
#: Demand (D = 4 current average, 5 last average, 6 maximum) is computed from an energy.
DEMAND_D: Final = (4, 5, 6)
#: Device ID 1, the serial number (Blue Book 7.4.1 / DLMS UA 1000-1: 0.0.96.1.0.255).
SERIAL_NUMBER: Final = bytes((0, 0, 96, 1, 0, 255))
DATA: Final = DataClass.class_id
REGISTERS: Final = frozenset({Register.class_id, ExtendedRegister.class_id})
DEMAND_REGISTER: Final = DemandRegister.class_id
#: The classes whose objects a ``[simulate]`` quantity drives.
QUANTIFIED: Final = frozenset({DATA, *REGISTERS, DEMAND_REGISTER})
PROFILE_GENERIC: Final = ProfileGeneric.class_id
ASSOCIATION_LN: Final = AssociationLN.class_id
SECURITY_SETUP: Final = SecuritySetup.class_id
#: No entries in use (a profile the simulator does not drive: its buffer is EMPTY_ARRAY).
NO_ENTRIES: Final = axdr.encode_double_long_unsigned(0)
_FLOATS: Final = frozenset({DataType.FLOAT32, DataType.FLOAT64})
_NUMBERS: Final = frozenset({*INTEGER_RANGES, *_FLOATS})
#: The string types a Data object's simulated value may have (its decimal digits).
_STRINGS: Final = frozenset({DataType.OCTET_STRING, DataType.VISIBLE_STRING, DataType.UTF8_STRING})


def default_quantity(obj: TemplateObject) -> str | None:
    """The quantity an object simulates by its OBIS code: the serial number
    (0.0.96.1.0.255, each meter its own); for electricity (A = 1, E = 0 or
    255) instantaneous values (D = 7), energies (D = 8), averages (D = 27)
    and energies (D = 29) of the last load-profile period and, for Demand
    registers, the energy of C (D = 4, 5, 6)."""
    if obj.logical_name == SERIAL_NUMBER:
        return "serial"
    a, _, c, d, e, _ = obj.logical_name
    if a != 1 or e not in (0, 255):
        return None
    if obj.class_id == DEMAND_REGISTER:
        return ENERGIES.get(c) if d in DEMAND_D else None
    if d == 7:
        return INSTANTANEOUS.get(c)
    if d == 8:
        return ENERGIES.get(c)
    if d == 27:
        return AVERAGES.get(c)
    if d == 29 and c in ENERGIES:
        return "block-" + ENERGIES[c]
    return None


def quantity_of(template: Template, obj: TemplateObject) -> str | None:
    """The quantity that drives ``obj``: the ``[simulate]`` entry, else the default; None when kept."""
    quantity = template.simulate.get(obj.logical_name) or default_quantity(obj)
    return None if quantity == KEPT else quantity


def _scaler_unit(value: Data | None) -> tuple[int, int]:
    """(scaler, unit) of a scaler_unit structure {integer, enum} (Blue Book 4.3.2); (0, count) without one."""
    if value is not None and value[0] == DataType.STRUCTURE and len(value[1]) == 2:
        (scaler_type, scaler), (unit_type, unit) = value[1]
        if scaler_type == DataType.INTEGER and unit_type == DataType.ENUM:
            return scaler, unit
    return 0, int(Unit.COUNT)


def _numeric_type(value: Data | None, default: DataType) -> DataType:
    return DataType(value[0]) if value is not None and value[0] in _NUMBERS else default


def simulable(class_id: int, value: Data | None) -> bool:
    """Whether a quantity can stand in for the template's value of a Data or
    register object: there is none, or it is a number (or, for Data, a
    string); an enum, a bcd, a structure... stays as the template keeps it."""
    return value is None or value[0] in _NUMBERS or (class_id == DATA and value[0] in _STRINGS)


def _data_source(source: Source, value: Data | None) -> Callable[[Context], Data]:
    """A Data object's value from a quantity, in the type of the template's
    ``value``: a number rounded (floats kept; an integer rolls over at its
    type's range, as a register does), or the decimal digits of a string."""
    kind = DataType(value[0]) if value is not None else DataType.DOUBLE_LONG_UNSIGNED
    if kind in (DataType.OCTET_STRING, DataType.VISIBLE_STRING):
        return lambda ctx: (kind, str(round(source(ctx))).encode("ascii"))
    if kind == DataType.UTF8_STRING:
        return lambda ctx: (kind, str(round(source(ctx))))
    if kind in _FLOATS:
        return lambda ctx: (kind, float(source(ctx)))
    least, count = INTEGER_RANGES[kind]
    return lambda ctx: (kind, (round(source(ctx)) - least) % count + least)


def _int(value: Data | None, default: int) -> int:
    return value[1] if value is not None and isinstance(value[1], int) and value[0] in _NUMBERS else default


def capture_objects(value: Data | None) -> list[tuple[int, bytes, int, int]] | None:
    """The capture_object_definitions of a Profile generic (Blue Book 4.3.6), None when not that form."""
    if value is None or value[0] != DataType.ARRAY:
        return None
    found = []
    for item in value[1]:
        members = item[1] if item[0] == DataType.STRUCTURE else []
        if len(members) != 4 or not isinstance(members[1][1], bytes) or len(members[1][1]) != 6:
            return None
        found.append((members[0][1], members[1][1], members[2][1], members[3][1]))
    return found


class TemplateError(ValueError):
    """A template the installed plugins cannot serve: names the object."""


def _driven(template: Template, obj: TemplateObject, by_ln: Mapping[bytes, TemplateObject]
            ) -> tuple[dict[str, Any], frozenset[int]]:
    """The class parameters of ``obj`` and the attributes its class serves
    (the rest answer what the template keeps)."""
    class_id = obj.class_id
    chosen = template.simulate.get(obj.logical_name)
    if chosen is not None and class_id not in QUANTIFIED and not (chosen == KEPT and class_id == PROFILE_GENERIC):
        raise TemplateError(f"[simulate] {format_obis(obj.logical_name)}: a quantity drives Data, Register, "
                            f"Extended register and Demand register objects (a profile may be {KEPT!r}), "
                            f"not class {class_id}")
    quantity = quantity_of(template, obj)
    source = QUANTITIES.get(quantity) if quantity is not None else None
    if quantity is not None and source is None:
        raise TemplateError(f"[simulate] {format_obis(obj.logical_name)}: unknown quantity {quantity!r} "
                            f"(one of {KEPT}, {', '.join(QUANTITIES)})")
    driven = dynamic(class_id, obj.logical_name)
    if source is not None and class_id in QUANTIFIED and not simulable(class_id, obj.value(2)):
        if chosen is not None:
            raise TemplateError(f"[simulate] {format_obis(obj.logical_name)}: a quantity cannot stand in for a "
                                f"value of type {enum_name(DataType(obj.value(2)[0]))}")
        source = None
    if class_id == DATA:
        value = obj.value(2)
        if source is None:
            return {"value": value or (DataType.NULL_DATA, None)}, frozenset()
        return {"value": _data_source(source, value)}, driven
    if class_id in REGISTERS or class_id == DEMAND_REGISTER:
        scaler, unit = _scaler_unit(obj.value(4 if class_id == DEMAND_REGISTER else 3))
        params: dict[str, Any] = {"scaler": scaler, "unit": unit, "rollover": True,
                                  "type": _numeric_type(obj.value(2), DataType.DOUBLE_LONG_UNSIGNED)}
        if source is None:
            return params, frozenset()
        if class_id in REGISTERS:
            return {**params, "value": source}, driven
        name = quantity.replace("-", "_") if quantity else ""
        if name not in Cumulative._fields:
            raise TemplateError(f"{obj.name}: a Demand register needs an energy quantity, not {quantity!r}")
        return {**params, "energy": lambda snapshot: getattr(snapshot.cumulative, name),
                "period": _int(obj.value(8), 900), "number_of_periods": _int(obj.value(9), 1)}, driven
    if class_id == PROFILE_GENERIC:
        columns = capture_objects(obj.value(3))
        period = _int(obj.value(4), 0)
        drivable = (columns is not None and divides_the_day(period) and template.simulate.get(obj.logical_name) != KEPT
                    and all(c[3] == 0 and c[1] in by_ln and by_ln[c[1]].class_id == c[0] for c in columns))
        if not drivable or columns is None:
            return {"capture_objects": [], "capture_period": 0, "profile_entries": 0}, frozenset()
        entries = _int(obj.value(8), 1)
        # As the built-in models: no more rows than load_profile_days of periods
        # (a template's profile_entries may be 4294967295, "as many as fit").
        return {"capture_objects": columns, "capture_period": period,
                "profile_entries": lambda meter: min(entries, meter.load_profile_days * 86400 // period)}, driven
    if class_id == ASSOCIATION_LN:
        partners = obj.value(3)
        if obj.logical_name == CURRENT_ASSOCIATION or partners is None or partners[0] != DataType.STRUCTURE \
                or not partners[1] or not isinstance(partners[1][0][1], int):
            return {}, driven
        return {"client_sap": partners[1][0][1]}, driven
    if class_id == SECURITY_SETUP and obj.logical_name[4] > 0:
        return {"association": obj.logical_name[4] - 1}, frozenset()
    return {}, driven


def served_attributes(template: Template, obj: TemplateObject) -> frozenset[int]:
    """The attributes of ``obj`` that the simulator drives when ``template`` is
    served; the others answer what the template keeps."""
    return _driven(template, obj, {o.logical_name: o for o in template.objects})[1]


def _kept(obj: TemplateObject, served: frozenset[int]) -> dict[int, bytes | DataAccessResult]:
    """What the template answers for each attribute its class does not serve."""
    kept: dict[int, bytes | DataAccessResult] = {}
    for attribute in obj.attributes:
        if attribute.index == 1 or attribute.index in served:
            continue
        if attribute.value is not None:
            kept[attribute.index] = axdr.encode_data(attribute.value)
        elif attribute.unreadable is not None:
            kept[attribute.index] = attribute.unreadable
    if obj.class_id == PROFILE_GENERIC and not served:
        kept.setdefault(2, EMPTY_ARRAY)
        kept.setdefault(7, NO_ENTRIES)
    return kept


@implementer(IObjectSet)
class TemplateObjectSet:
    """The objects of one device template; ``complete``: the template brings
    every object, the mandatory ones included."""

    complete = True

    def __init__(self, name: str, template: Template) -> None:
        self.name = name
        self.description = f"device template {template.source or name}"
        self.load_shape = template.load_shape
        self.utc_offset = template.utc_offset
        self.template = template

    def check(self, classes: Mapping[int, IInterfaceClass]) -> None:
        """TemplateError naming the first object that cannot be served (or the
        load shape, or the current association that every meter has)."""
        if self.load_shape not in SHAPES:
            raise TemplateError(f"[template] load_shape {self.load_shape!r} is not one of {', '.join(sorted(SHAPES))}")
        built = self.objects(classes)
        for obj in built:
            try:
                obj.interface_class.prepare(obj)
            except KeyError as error:
                raise TemplateError(f"class {obj.class_id} {format_obis(obj.logical_name)}: the class needs a "
                                    f"value of {error.args[0]}") from None
            except (TypeError, ValueError) as error:
                raise TemplateError(f"class {obj.class_id} {format_obis(obj.logical_name)}: {error}") from None
        if not any(obj.logical_name == CURRENT_ASSOCIATION and obj.class_id == ASSOCIATION_LN for obj in built):
            raise TemplateError(f"no Association LN (class {ASSOCIATION_LN}) {format_obis(CURRENT_ASSOCIATION)}: "
                                "a client could not read the object list")

    def objects(self, classes: Mapping[int, IInterfaceClass]) -> list[CosemObject]:
        template = self.template
        by_ln = {obj.logical_name: obj for obj in template.objects}
        built = []
        for obj in template.objects:
            interface_class = classes.get(obj.class_id)
            if interface_class is None:
                raise TemplateError(f"{obj.name}: no interface class {obj.class_id} is installed")
            params, served = _driven(template, obj, by_ln)
            if isinstance(interface_class, ConfiguredClass):
                specs = interface_class.attribute_specs
                for attribute in obj.attributes:
                    if attribute.value is not None and attribute.index in specs and attribute.index > 1:
                        params.setdefault(specs[attribute.index].name, attribute.value)
            listing = Listing(obj.version, tuple((a.index, a.access, a.selectors) for a in obj.attributes),
                              tuple((m.index, m.access) for m in obj.methods))
            built.append(CosemObject(obj.logical_name, interface_class, params, listing=listing,
                                     kept=_kept(obj, served)))
        return built
