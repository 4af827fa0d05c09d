"""OBIS code text forms (dlmstw.codec.obis; Blue Book 7 / IEC 62056-6-1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlmstw.codec.obis import format_obis, format_obis_reduced, parse_obis

LOAD_PROFILE = bytes((1, 0, 99, 1, 0, 255))


@pytest.mark.parametrize(
    "text",
    ["1.0.99.1.0.255", "1-0:99.1.0*255", "1-0:99.1.0.255", "0100630100FF", "0100630100ff", "  1.0.99.1.0.255\n"],
)
def test_parse_forms(text: str) -> None:
    assert parse_obis(text) == LOAD_PROFILE


def test_known_codes() -> None:
    # public-vectors.md 3.4/3.5: invocation counter, clock, current association
    assert parse_obis("0.0.43.1.0.255") == bytes.fromhex("00002B0100FF")
    assert parse_obis("0-0:1.0.0*255") == bytes.fromhex("0000010000FF")
    assert parse_obis("0.0.40.0.0.255") == bytes.fromhex("0000280000FF")


def test_format() -> None:
    assert format_obis(LOAD_PROFILE) == "1.0.99.1.0.255"
    assert format_obis_reduced(LOAD_PROFILE) == "1-0:99.1.0*255"
    assert format_obis(bytes(6)) == "0.0.0.0.0.0"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1.0.99.1.0",
        "1.0.99.1.0.255.0",
        "1.0.99.1.0.256",
        "1.0.99.1.0.-1",
        "1.0.99.1.0.+1",
        "1.0.99.1.0.2_5",
        "1.0.99.1.0.\u0661",  # an Arabic-Indic digit is not an OBIS digit
        "1-0:99.1.0",
        "1-0:99:1.0*255",
        "1.0:99.1.0*255",
        "0100630100F",
        "0100630100FFF",
        "0100630100FG",
        "1.0.99.1.0.1000",
        "a.b.c.d.e.f",
    ],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_obis(text)


@pytest.mark.parametrize("logical_name", [b"", bytes(5), bytes(7)])
def test_format_refuses_wrong_sizes(logical_name: bytes) -> None:
    with pytest.raises(ValueError):
        format_obis(logical_name)
    with pytest.raises(ValueError):
        format_obis_reduced(logical_name)


@given(st.binary(min_size=6, max_size=6))
def test_round_trip(logical_name: bytes) -> None:
    assert parse_obis(format_obis(logical_name)) == logical_name
    assert parse_obis(format_obis_reduced(logical_name)) == logical_name
    assert parse_obis(logical_name.hex()) == logical_name
    assert parse_obis(format_obis_reduced(logical_name).replace("*", ".")) == logical_name
