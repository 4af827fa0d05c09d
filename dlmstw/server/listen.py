"""Meters' listening ports: a strports endpoint type, quiet at scale.

A meter listens on ``serverFromString(reactor, "dlmstw-tcp:4059:interface=127.0.0.1")``,
the console on its ``tcp:`` description: both are Twisted endpoint strings.
``dlmstw-tcp`` takes the arguments of ``tcp`` (port, ``interface``,
``backlog``) and is registered by ``twisted/plugins/dlmstw_endpoints.py``.

Its port differs from Twisted's TCP port in one way: that one logs a line
when it starts and when it closes, which is 200,000 lines for a
100,000-meter lab. ``MeterPort`` logs neither; the lab logs one line per
group instead.

Finding a plugin's prefix scans the plugins (about a millisecond), so the
lab parses one string per group and moves its endpoint to each meter's
port (``MeterEndpoint.at``).
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet import tcp
from twisted.internet.defer import Deferred, execute, maybeDeferred
from twisted.internet.endpoints import quoteStringArgument
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint, IStreamServerEndpointStringParser
from twisted.internet.protocol import Factory
from twisted.plugin import IPlugin
from twisted.python.failure import Failure
from zope.interface import implementer

#: The endpoint type of meters' ports in strports descriptions.
ENDPOINT_PREFIX = "dlmstw-tcp"
#: Twisted's default listen backlog for TCP (``twisted.internet.tcp.Port``).
DEFAULT_BACKLOG = 50


class MeterPort(tcp.Port):
    """A listening TCP port that bound its socket beforehand and logs nothing."""

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


def meter_endpoint_description(port: int, interface: str, backlog: int = DEFAULT_BACKLOG) -> str:
    """The strports description of a meter's port, e.g. ``dlmstw-tcp:4059:interface=127.0.0.1:backlog=128``."""
    return f"{ENDPOINT_PREFIX}:{port}:interface={quoteStringArgument(interface)}:backlog={backlog}"


@implementer(IStreamServerEndpoint)
class MeterEndpoint:
    """Where a meter listens: a TCP port and interface, as a ``MeterPort``.
    ``listen`` has fired when it returns."""

    __slots__ = ("reactor", "port", "interface", "backlog")

    def __init__(self, reactor: Any, port: int, interface: str = "", backlog: int = DEFAULT_BACKLOG) -> None:
        self.reactor = reactor
        self.port = port
        self.interface = interface
        self.backlog = backlog

    def at(self, port: int) -> MeterEndpoint:
        """The same endpoint on another port."""
        return MeterEndpoint(self.reactor, port, self.interface, self.backlog)

    def listen(self, protocolFactory: Factory) -> Deferred[MeterPort]:
        """Listen now; the Deferred fails with CannotListenError when the address is taken."""
        return execute(self._listen, protocolFactory)

    def _listen(self, factory: Factory) -> MeterPort:
        port = MeterPort(self.port, factory, self.backlog, self.interface, self.reactor)
        port.startListening()
        return port


@implementer(IPlugin, IStreamServerEndpointStringParser)
class MeterEndpointParser:
    """The ``dlmstw-tcp`` endpoint type: ``dlmstw-tcp:PORT[:interface=ADDRESS][:backlog=N]``."""

    prefix = ENDPOINT_PREFIX

    def parseStreamServer(self, reactor: Any, port: str, interface: str = "",
                          backlog: str = str(DEFAULT_BACKLOG)) -> MeterEndpoint:
        return MeterEndpoint(reactor, int(port), interface, int(backlog))


class PortService(Service):
    """A port open while the service runs (and again after it stopped,
    unlike ``StreamServerEndpointService``); ``_open`` opens it."""

    port: IListeningPort | None = None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        if self.port is None:
            self.port = self._open()

    def startService(self) -> None:
        if self.port is None:
            self.port = self._open()
        super().startService()

    def _open(self) -> IListeningPort:
        """Open the port; CannotListenError, at once, when the address is taken."""
        raise NotImplementedError

    def stopService(self) -> Deferred[None] | None:
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return None
        return maybeDeferred(port.stopListening)


class MeterListener(PortService):
    """One meter's TCP port."""

    def __init__(self, endpoint: MeterEndpoint, factory: Factory) -> None:
        self.endpoint = endpoint
        self.factory = factory

    def _open(self) -> IListeningPort:
        outcome: list[MeterPort | Failure] = []
        self.endpoint.listen(self.factory).addBoth(outcome.append)
        port = outcome[0]
        if isinstance(port, Failure):
            port.raiseException()
        return port
