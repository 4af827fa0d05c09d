"""Meters' listening ports, quiet at scale.

Twisted's TCP port logs a line when it starts and when it closes, which is
200,000 lines for a 100,000-meter lab. ``MeterPort`` is the same port
without those lines; the lab logs one line per group instead.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet import tcp
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory


class MeterPort(tcp.Port):
    """A listening TCP port that bound its socket beforehand and logs at debug level."""

    def startListening(self) -> None:
        try:
            skt = self.createInternetSocket()
            try:
                skt.bind((self.interface, self.port))
            except OSError:
                skt.close()
                raise
        except OSError as error:
            raise CannotListenError(self.interface, self.port, error) from None
        skt.listen(self.backlog)
        self._realPortNumber = skt.getsockname()[1]
        self.factory.doStart()
        self.connected = True
        self.socket = skt
        self.fileno = skt.fileno  # type: ignore[method-assign]
        self.numberAccepts = 100
        self.startReading()

    def _logConnectionLostMsg(self) -> None:
        """Closing is not logged either."""


class MeterListener(Service):
    """One meter's port, listening while the service runs."""

    def __init__(self, port: int, factory: Factory, backlog: int, interface: str, reactor: Any = None) -> None:
        self.port_number = port
        self.factory = factory
        self.backlog = backlog
        self.interface = interface
        self.reactor = reactor
        self.port: MeterPort | None = None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        if self.port is None:
            self._listen()

    def startService(self) -> None:
        if self.port is None:
            self._listen()
        super().startService()

    def _listen(self) -> None:
        if self.reactor is None:
            from twisted.internet import reactor
            self.reactor = reactor
        port = MeterPort(self.port_number, self.factory, self.backlog, self.interface, self.reactor)
        port.startListening()
        self.port = port

    def stopService(self) -> Deferred[None] | None:
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return None
        return maybeDeferred(port.stopListening)
