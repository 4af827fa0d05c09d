"""The channels between the lab's processes: capture records as bytes
(``monitor.records``), AMP arguments of any size (``server.channel``), the
packet-log writer's rotation and the counter journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st
from twisted.protocols import amp

from dlmstw.errors import DecodeError
from dlmstw.monitor.capture import Exchange
from dlmstw.monitor.records import decode_exchanges, encode_exchanges
from dlmstw.server.channel import Json, Records
from dlmstw.server import journal as journal_module
from dlmstw.server.journal import CounterJournal, replay
from dlmstw.server.log_writer import RotatingFile

optional_bytes = st.none() | st.binary(max_size=300)
exchanges = st.builds(
    Exchange, sequence=st.integers(0, 2**64 - 1), time_req=st.floats(0, 2e9),
    time_res=st.none() | st.floats(0, 2e9), meter=st.text(max_size=20), peer=st.text(max_size=30),
    local=st.text(max_size=30), client_sap=st.none() | st.integers(0, 0xFFFF),
    server_sap=st.none() | st.integers(0, 0xFFFF), request=st.binary(max_size=300), response=optional_bytes,
    request_apdu=optional_bytes, response_apdu=optional_bytes, kind=st.text(max_size=30),
    ciphered=st.booleans(), result=st.text(max_size=40))


@given(st.lists(exchanges, max_size=20))
def test_records_round_trip(batch: list[Exchange]) -> None:
    assert decode_exchanges(encode_exchanges(batch)) == batch


@given(st.lists(exchanges, min_size=1, max_size=5), st.data())
def test_cut_records_raise_the_codec_error(batch: list[Exchange], data: st.DataObject) -> None:
    encoded = encode_exchanges(batch)
    cut = data.draw(st.integers(1, len(encoded) - 1))
    try:
        decoded = decode_exchanges(encoded[:cut])
    except DecodeError:
        return
    assert decoded == batch[:len(decoded)]  # a cut between two records leaves the whole ones


@given(st.binary(max_size=200))
def test_any_bytes_raise_only_the_codec_error(data: bytes) -> None:
    try:
        decode_exchanges(data)
    except DecodeError:
        pass


def exchange(sequence: int, size: int) -> Exchange:
    return Exchange(sequence, 1.5, 2.5, "abt-0", "127.0.0.1:5000", "127.0.0.1:4059", 16, 1, b"\x00" * size,
                    b"\x01" * size, b"\x02" * size, None, "get-request-normal", True, "success")


def through_a_box(argument: amp.Argument, value: object) -> object:
    """``value`` as an AMP box on the wire and back: every value must fit its 16-bit length."""
    strings: dict[bytes, bytes] = {}
    argument.toBox(b"value", strings, {"value": value}, None)
    (box,) = amp.parseString(amp.AmpBox(strings).serialize())
    objects: dict[str, object] = {}
    argument.fromBox(b"value", dict(box), objects, None)
    return objects["value"]


def test_batches_larger_than_an_amp_value_travel_in_chunks() -> None:
    batch = [exchange(n, 20_000) for n in range(5)]  # about 300 kB
    assert through_a_box(Records(), batch) == batch
    assert through_a_box(Json(), {"meters": {"abt-0": {"x": "y" * 100_000}}}) == {"meters": {"abt-0": {"x": "y" * 100_000}}}
    assert through_a_box(Records(), []) == []


def test_the_packet_log_rotates_and_keeps_its_files(tmp_path: Path) -> None:
    path = tmp_path / "packets.jsonl"
    out = RotatingFile(str(path), max_bytes=100, keep=2)
    for n in range(10):
        out.write(b"%02d" % n + b"x" * 37 + b"\n")  # 40 bytes: two lines a file
    out.close()
    assert path.read_bytes().splitlines() == [b"08" + b"x" * 37, b"09" + b"x" * 37]
    assert [line[:2] for line in (tmp_path / "packets.jsonl.1").read_bytes().splitlines()] == [b"06", b"07"]
    assert [line[:2] for line in (tmp_path / "packets.jsonl.2").read_bytes().splitlines()] == [b"04", b"05"]
    assert not (tmp_path / "packets.jsonl.3").exists()
    again = RotatingFile(str(path), max_bytes=0, keep=2)  # 0: never rotates, appends
    again.write(b"more\n")
    again.close()
    assert path.read_bytes().endswith(b"more\n") and not (tmp_path / "packets.jsonl.3").exists()


def test_the_journal_replays_the_highest_counters_and_skips_a_torn_line(tmp_path: Path) -> None:
    journal = CounterJournal(tmp_path, "main")
    journal.record("abt-0.security", "utility", 7)
    journal.record("abt-0.security", None, 2000)
    journal.record("abt-0.security", "utility", 9)
    journal.close()
    with (tmp_path / "counters-main.journal").open("a") as torn:
        torn.write("abt-0.security\tutil")
    seen: list[tuple[str, str | None, int]] = []
    assert replay(tmp_path, lambda *line: seen.append(line)) == 3
    assert seen == [("abt-0.security", "utility", 7), ("abt-0.security", None, 2000),
                    ("abt-0.security", "utility", 9)]
    journal.compact([("abt-0.security", None, 2000), ("abt-0.security", "utility", 9)])
    seen.clear()
    assert replay(tmp_path, lambda *line: seen.append(line)) == 2
    assert seen == [("abt-0.security", None, 2000), ("abt-0.security", "utility", 9)]
    journal.record("abt-0.security", "utility", 10)
    # The mapped file is read while the journal is open (as after a crash): its zeros end the lines.
    assert replay(tmp_path, lambda *line: None) == 3
    assert (tmp_path / "counters-main.journal").read_bytes()[journal.size:].strip(b"\0") == b""
    journal.close()
    assert (tmp_path / "counters-main.journal").read_bytes().endswith(b"\tutility\t10\n")
    assert journal.size == (tmp_path / "counters-main.journal").stat().st_size


def test_the_journal_grows_its_mapping_and_keeps_every_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "CAPACITY", 64)
    journal = CounterJournal(tmp_path, "main")
    for counter in range(1, 101):
        journal.record("abt-0.security", "utility", counter)
    seen: list[int] = []
    assert replay(tmp_path, lambda part, association, counter: seen.append(counter)) == 100
    assert seen == list(range(1, 101))
    journal.close()
