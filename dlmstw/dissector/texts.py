"""Words for decoded values: octets, COSEM dates and times (Blue Book 4.1.6.1),
system titles (Green Book 4.3.4) and BER identifiers (X.690 8.1.2). Pure
functions of values the codecs decoded; sans-I/O."""

from __future__ import annotations

import datetime
from typing import Final

from dlmstw.codec.axdr import CosemDate, CosemDateTime, CosemTime
from dlmstw.codec.ber import (
    UNIVERSAL_BIT_STRING,
    UNIVERSAL_INTEGER,
    UNIVERSAL_OBJECT_IDENTIFIER,
    UNIVERSAL_OCTET_STRING,
)
from dlmstw.enums import ApduTag, DataType, named

_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_CLOCK_STATUS_BITS: Final = ((0x01, "invalid value"), (0x02, "doubtful value"), (0x04, "different clock base"),
                             (0x08, "invalid clock status"), (0x80, "daylight saving active"))
_UNIVERSAL_NAMES: Final = {
    UNIVERSAL_INTEGER: "INTEGER",
    UNIVERSAL_BIT_STRING: "BIT STRING",
    UNIVERSAL_OCTET_STRING: "OCTET STRING",
    UNIVERSAL_OBJECT_IDENTIFIER: "OBJECT IDENTIFIER",
}


def type_name(tag: int) -> str:
    """ "double-long-unsigned" for 6 (Blue Book 4.1.5)."""
    return named(DataType, tag) or f"unknown type {tag}"


def printable(raw: bytes) -> str | None:
    """The octets as ASCII when every one is printable, else None."""
    if raw and all(0x20 <= octet < 0x7F for octet in raw):
        return raw.decode("ascii")
    return None


def octets_text(raw: bytes) -> str:
    """Hex, with the ASCII reading when printable: '41424344 ("ABCD")'."""
    text = printable(raw)
    return f'{raw.hex().upper()} ("{text}")' if text is not None else raw.hex().upper() or "(empty)"


def flag_id_text(raw: bytes) -> str:
    """The manufacturer's three-letter FLAG id heading a system title (Green Book 4.3.4)."""
    text = printable(raw)
    return f'manufacturer "{text}" (FLAG id)' if text is not None else f"manufacturer id {raw.hex().upper()}"


def ber_tag_text(tag: int) -> str:
    """A BER identifier octet in words (X.690 8.1.2)."""
    if tag in _UNIVERSAL_NAMES:
        return f"{_UNIVERSAL_NAMES[tag]} [UNIVERSAL {tag}]"
    form = "constructed" if tag & 0x20 else "primitive"
    number = tag & 0x1F
    if tag & 0xC0 == 0x40:
        return f"[APPLICATION {number}], {form}"
    if tag & 0xC0 == 0x80:
        return f"[{number}] context-specific, {form}"
    return f"0x{tag:02X}, {form}"


def _two(value: int | None) -> str:
    return "**" if value is None else f"{value:02d}"


def _date_text(year: int | None, month: int | None, day: int | None) -> str:
    month_text = {0xFD: "DST-end", 0xFE: "DST-begin"}.get(month or 0, _two(month))
    day_text = {0xFD: "2nd-last", 0xFE: "last"}.get(day or 0, _two(day))
    return f"{'****' if year is None else f'{year:04d}'}-{month_text}-{day_text}"


def _time_text(hour: int | None, minute: int | None, second: int | None, hundredths: int | None) -> str:
    return f"{_two(hour)}:{_two(minute)}:{_two(second)}.{_two(hundredths)}"


def _weekday(day_of_week: int | None) -> str:
    if day_of_week is None:
        return "day of week not specified"
    return _WEEKDAYS[day_of_week - 1]


def clock_status_text(status: int | None) -> str:
    """Clock status bits (Blue Book 4.1.6.1)."""
    if status is None:
        return "status not specified"
    flags = [text for bit, text in _CLOCK_STATUS_BITS if status & bit]
    return f"status 0x{status:02X}" + (f" ({', '.join(flags)})" if flags else " (ok)")


def _valid_date(year: int | None, month: int | None, day: int | None, day_of_week: int | None) -> bool:
    return ((year is None or year < 0xFFFF) and (month is None or 1 <= month <= 12 or month in (0xFD, 0xFE))
            and (day is None or 1 <= day <= 31 or day in (0xFD, 0xFE))
            and (day_of_week is None or 1 <= day_of_week <= 7))


def _valid_time(hour: int | None, minute: int | None, second: int | None, hundredths: int | None) -> bool:
    return ((hour is None or hour <= 23) and (minute is None or minute <= 59) and (second is None or second <= 59)
            and (hundredths is None or hundredths <= 99))


def date_time_text(raw: bytes) -> str | None:
    """A 12-octet COSEM date-time (Blue Book 4.1.6.1) as ISO 8601 with day of week,
    deviation and clock status; None when the octets are not a valid date-time.

    Not-specified parts show as ``*``; ``deviation`` is UTC minus local time in
    minutes, so -60 is UTC+01:00.
    """
    if len(raw) != 12:
        return None
    value = CosemDateTime.from_bytes(raw)
    deviation = value.deviation
    if not (_valid_date(value.year, value.month, value.day, value.day_of_week)
            and _valid_time(value.hour, value.minute, value.second, value.hundredths)
            and (deviation is None or -720 <= deviation <= 720)):
        return None
    try:
        moment = value.to_datetime()
        stamp = moment.isoformat(timespec="milliseconds" if value.hundredths else "seconds")
    except ValueError:
        stamp = (f"{_date_text(value.year, value.month, value.day)}T"
                 f"{_time_text(value.hour, value.minute, value.second, value.hundredths)}")
    if deviation is None:
        zone = "deviation not specified"
    else:
        offset = datetime.timezone(datetime.timedelta(minutes=-deviation))
        zone = f"deviation {deviation} min ({offset.tzname(None)})"
    return f"{stamp} ({_weekday(value.day_of_week)}), {zone}, {clock_status_text(value.clock_status)}"


def date_text(raw: bytes) -> str | None:
    """A 5-octet COSEM date (Blue Book 4.1.6.1), None when not valid."""
    value = CosemDate.from_bytes(raw)
    if not _valid_date(value.year, value.month, value.day, value.day_of_week):
        return None
    return f"{_date_text(value.year, value.month, value.day)} ({_weekday(value.day_of_week)})"


def time_text(raw: bytes) -> str | None:
    """A 4-octet COSEM time (Blue Book 4.1.6.1), None when not valid."""
    value = CosemTime.from_bytes(raw)
    if not _valid_time(value.hour, value.minute, value.second, value.hundredths):
        return None
    return _time_text(value.hour, value.minute, value.second, value.hundredths)


def apdu_name(tag: int) -> str:
    """ "glo-get-request" for 0xC8 (Green Book 9.5 APDU names)."""
    return named(ApduTag, tag) or f"0x{tag:02X}"
