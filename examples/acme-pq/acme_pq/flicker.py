"""ACME flicker severity, class_id 8192, version 0: a manufacturer-specific
interface class (class_ids from 8192 up to 32767 are the manufacturers', Blue
Book 4.2) holding the flicker severity of each phase (IEC 61000-4-15).

====  ===========  =====================================================
attr  name         value
====  ===========  =====================================================
1     logical_name  octet-string(6)
2     short_term    array of 3 long-unsigned: Pst of L1, L2, L3 over the
                    last complete 10-minute interval
3     long_term     array of 3 long-unsigned: Plt of L1, L2, L3, the cube
                    root of the mean cube of the last 12 Pst (2 hours)
4     scaler_unit   structure {scaler integer, unit enum}, as a Register's
                    (Blue Book 4.3.2): the severities are unitless
====  ===========  =====================================================

An object's ``params['severity']`` is a value source: called with the
request's context and the end of a 10-minute interval, it returns that
interval's Pst of the three phases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dlmstw.codec.axdr import encode_data
from dlmstw.cosem.base import AttributeSpec, Context, CosemObject, Encoded, period_start
from dlmstw.cosem.interface_class import InterfaceClass
from dlmstw.enums import DataType, Unit

#: Pst is measured over 10 minutes, Plt aggregates 12 of them (IEC 61000-4-15).
PST_INTERVAL = 600
PLT_INTERVALS = 12
#: Severities are sent in thousandths.
SCALER = -3

#: Pst of L1, L2 and L3 for the interval ending at the instant given.
Severity = Callable[[Context, float], Sequence[float]]


def long_term(short_terms: Sequence[float]) -> float:
    """Plt: the cube root of the mean of the cubes of the Pst (IEC 61000-4-15)."""
    return (sum(pst ** 3 for pst in short_terms) / len(short_terms)) ** (1 / 3)


def _severities(values: Sequence[float]) -> bytes:
    return encode_data((DataType.ARRAY, [(DataType.LONG_UNSIGNED, round(value * 10 ** -SCALER))
                                         for value in values]))


class FlickerSeverity(InterfaceClass):
    """Pst and Plt per phase, computed when read from the object's severity source."""

    class_id = 8192
    version = 0
    name = "ACME flicker severity"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "short_term"),
        AttributeSpec(3, "long_term"),
        AttributeSpec(4, "scaler_unit"),
    )

    def prepare(self, obj: CosemObject) -> None:
        super().prepare(obj)
        obj.params["_scaler_unit"] = encode_data(
            (DataType.STRUCTURE, [(DataType.INTEGER, SCALER), (DataType.ENUM, int(Unit.COUNT))]))

    def _last_interval(self, ctx: Context) -> float:
        """The end of the last complete 10-minute interval."""
        return period_start(ctx.meter, ctx.t, PST_INTERVAL)

    def read_short_term(self, obj: CosemObject, ctx: Context) -> Encoded:
        severity: Severity = obj.params["severity"]
        return _severities(severity(ctx, self._last_interval(ctx)))

    def read_long_term(self, obj: CosemObject, ctx: Context) -> Encoded:
        severity: Severity = obj.params["severity"]
        end = self._last_interval(ctx)
        intervals = [severity(ctx, end - k * PST_INTERVAL) for k in range(PLT_INTERVALS)]
        return _severities([long_term(phase) for phase in zip(*intervals)])

    def read_scaler_unit(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_scaler_unit"]
