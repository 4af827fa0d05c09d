"""An exception inside a COSEM object (Green Book 9.3: the meter still
answers): GET and SET answer other-reason (250), ACTION other-reason (250),
and the error log names the service, the object, the attribute or method and
the traceback (bench/fuzz_meter.py fails on such a log)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from dlmstw.association.services import ServiceHandler
from dlmstw.enums import Conformance


class Broken:
    """An object directory whose every object raises."""

    def reader(self, attribute: Any, association: Any) -> Any:
        return lambda: self.get(attribute, None, association)

    def get(self, attribute: Any, selective: Any, association: Any) -> Any:
        if attribute.attribute_id in (3, 4):
            return self.rows(attribute.attribute_id - 2)
        raise RuntimeError("get broke")

    def rows(self, before_failing: int) -> Iterator[bytes]:
        """A lazily read buffer that fails after ``before_failing`` - 1 chunks."""
        for _ in range(before_failing - 1):
            yield b"\x01\x82\x01\x00" + b"\x00" * 300
        raise RuntimeError("rows broke")

    def set(self, attribute: Any, selective: Any, value: Any, association: Any) -> Any:
        raise RuntimeError("set broke")

    def action(self, method: Any, parameters: Any, association: Any) -> Any:
        raise RuntimeError("action broke")


def handler(logged: list[str]) -> ServiceHandler:
    association = SimpleNamespace(conformance=Conformance.GET | Conformance.SET | Conformance.ACTION
                                  | Conformance.SELECTIVE_ACCESS | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ,
                                  client_max_receive_pdu_size=128)
    return ServiceHandler(Broken(), association, logged.append)  # type: ignore[arg-type]


CLOCK = "0008" "0000010000FF"


@pytest.mark.parametrize(("request_hex", "answer_hex", "named"), [
    ("C001C1" + CLOCK + "0200", "C401C101FA", "GET of class 8 0.0.1.0.0.255 attribute 2 failed"),
    ("C001C1" + CLOCK + "02010100", "C401C101FA", "GET of class 8 0.0.1.0.0.255 attribute 2 failed"),
    ("C101C1" + CLOCK + "0300" + "100000", "C501C1FA", "SET of class 8 0.0.1.0.0.255 attribute 3 failed"),
    ("C301C1" + CLOCK + "0100", "C701C1FA00", "ACTION of class 8 0.0.1.0.0.255 method 1 failed"),
    ("C001C1" + CLOCK + "0300", "C401C101FA", "GET of class 8 0.0.1.0.0.255 attribute 3 failed"),
], ids=["get-hot-path", "get-selective", "set", "action", "get-lazy"])
def test_an_exception_in_an_object_is_answered_and_logged(request_hex: str, answer_hex: str, named: str) -> None:
    logged: list[str] = []
    assert handler(logged).handle(bytes.fromhex(request_hex)).hex().upper() == answer_hex
    assert len(logged) == 1 and logged[0].startswith(named + ":\n") and "RuntimeError" in logged[0]


def test_an_exception_in_a_long_answer_names_the_object() -> None:
    logged: list[str] = []
    serving = handler(logged)
    first = serving.handle(bytes.fromhex("C001C1" + "0007" + "0100630100FF" + "0400"))
    assert first[:4] == bytes.fromhex("C402C100")  # GET-Response-With-Datablock, not the last
    assert logged == []
    blocks = [first]
    while not logged:
        blocks.append(serving.handle(bytes.fromhex("C002C1") + blocks[-1][4:8]))
    assert blocks[-1][3] == 1 and blocks[-1][8:10] == bytes.fromhex("01FA")  # last block: other-reason
    assert logged[0].startswith("GET (next block) of class 7 1.0.99.1.0.255 attribute 4 failed:\n")


def test_what_the_association_did_not_negotiate_is_refused() -> None:
    """Green Book 9.4.6: selective access without its conformance bit is
    scope-of-access-violated (13); a service not negotiated is
    service-not-allowed / service-not-supported; an unknown tag is
    service-unknown / service-not-supported; a request that does not decode
    is service-not-allowed / other-reason."""
    logged: list[str] = []
    association = SimpleNamespace(conformance=Conformance.GET, client_max_receive_pdu_size=0)
    serving = ServiceHandler(Broken(), association, logged.append)  # type: ignore[arg-type]
    assert serving.handle(bytes.fromhex("C001C1" + CLOCK + "02010100")).hex().upper() == "C401C1010D"
    assert serving.handle(bytes.fromhex("C101C1" + CLOCK + "0300100000")).hex().upper() == "D80102"
    assert serving.handle(bytes.fromhex("C301C1" + CLOCK + "0100")).hex().upper() == "D80102"
    assert serving.handle(bytes.fromhex("C6")).hex().upper() == "D80202"
    assert serving.handle(bytes.fromhex("C001")).hex().upper() == "D80103"
    assert logged == []


def test_get_is_refused_where_it_was_not_negotiated() -> None:
    """The GET hot path too: an association without GET answers every
    GET-Request-Normal service-not-allowed / service-not-supported."""
    association = SimpleNamespace(conformance=Conformance.SET, client_max_receive_pdu_size=0)
    serving = ServiceHandler(Broken(), association, [].append)  # type: ignore[arg-type]
    assert serving.handle(bytes.fromhex("C001C1" + CLOCK + "0200")).hex().upper() == "D80102"
