"""The baseline: a do-nothing Twisted server on the epoll reactor that answers
every complete IEC 62056-47 wrapper frame with one fixed, pre-built frame.

It frames its input the way any wrapper server must (8-byte headers and their
length fields) and does nothing else: no decoding, no state beyond the bytes
of an incomplete frame. Prints ``READY <pid>`` once it listens.

    python bench/baseline_server.py PORT RESPONSE_HEX
"""

from __future__ import annotations

import argparse
import os
import sys

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import reactor  # noqa: E402  (after the reactor choice)
from twisted.internet.interfaces import IAddress  # noqa: E402
from twisted.internet.protocol import Factory, Protocol  # noqa: E402

import harness  # noqa: E402

HEADER_SIZE = harness.WRAPPER.size


class FixedAnswer(Protocol):
    """Answers each complete wrapper frame with ``factory.response``, one
    write per frame as the meter does."""

    factory: FixedAnswerFactory

    def __init__(self) -> None:
        self.pending = b""

    def dataReceived(self, data: bytes) -> None:
        buffer = self.pending + data if self.pending else data
        end = len(buffer)
        pos = 0
        write = self.transport.write
        response = self.factory.response
        while end - pos >= HEADER_SIZE:
            stop = pos + HEADER_SIZE + ((buffer[pos + 6] << 8) | buffer[pos + 7])
            if stop > end:
                break
            write(response)
            pos = stop
        self.pending = buffer[pos:]


class FixedAnswerFactory(Factory):
    noisy = False

    def __init__(self, response: bytes) -> None:
        self.response = response

    def buildProtocol(self, addr: IAddress) -> FixedAnswer:
        protocol = FixedAnswer()
        protocol.factory = self
        return protocol


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("response", help="the whole response frame, hex")
    parser.add_argument("--max-seconds", type=float, default=900.0,
                        help="stop by itself after this long (default 900)")
    args = parser.parse_args(argv)
    reactor.listenTCP(args.port, FixedAnswerFactory(bytes.fromhex(args.response)), backlog=128,
                      interface=harness.LOOPBACK)
    reactor.callLater(args.max_seconds, reactor.stop)
    reactor.callWhenRunning(lambda: print(f"{harness.READY} {os.getpid()}", flush=True))
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
