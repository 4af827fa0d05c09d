"""What made a client operation fail, in the one vocabulary of DESIGN.md
("Result names", campaign failure kinds), and the exit status that goes with
it (DESIGN.md "Command lines").

The names come from the tables of ``dlmstw.enums`` and ``dlmstw.codec.results``
(Green Book 9.3.2 AARE diagnostics, 9.5 Data-Access-Result and the
EXCEPTION-Response's state-error and service-error); nothing is spelled twice.
"""

from __future__ import annotations

from typing import Final

from twisted.internet import error as twisted_errors

from dlmstw.client.protocol import (
    AssociationRefused,
    AuthenticationRefused,
    ConnectionClosed,
    ResponseTimeout,
    ServiceRefused,
)
from dlmstw.client.session import ClientProtocolError
from dlmstw.codec.results import AUTHENTICATION_FAILURE, INVOCATION_COUNTER_ERROR, aare_result, exception_result
from dlmstw.codec.services import CosemAttributeDescriptor, ExceptionResponse
from dlmstw.enums import DATA_ACCESS_RESULT_NAMES, DataAccessResult, enum_name
from dlmstw.errors import DecodeError

EXIT_OK: Final = 0
EXIT_RUNTIME: Final = 1
"""A runtime failure other than those below (e.g. an answer that does not parse)."""
EXIT_USAGE: Final = 2
"""A command line, plan or lab file that cannot be used."""
EXIT_TRANSPORT: Final = 3
"""Connect refused, timeout, connection lost."""
EXIT_ASSOCIATION: Final = 4
"""The AARE rejected the association, or HLS pass 3/4 failed."""
EXIT_RESULT: Final = 5
"""A data-access-result or an exception-response (the client invokes no methods, so no action-result)."""
EXIT_RELEASE: Final = 6
"""The release (RLRQ/RLRE) failed."""

CONNECT_REFUSED: Final = "connect-refused"
TIMEOUT: Final = "timeout"
CONNECTION_LOST: Final = "connection-lost"
PROTOCOL_ERROR: Final = "protocol-error"
ASSOCIATION_REJECTED: Final = "association-rejected"
DATA_ACCESS_RESULT: Final = "data-access-result"
EXCEPTION_RESPONSE: Final = "exception-response"
CONFIRMED_SERVICE_ERROR: Final = "confirmed-service-error"

_EXIT_BY_KIND: Final = {
    CONNECT_REFUSED: EXIT_TRANSPORT, TIMEOUT: EXIT_TRANSPORT, CONNECTION_LOST: EXIT_TRANSPORT,
    ASSOCIATION_REJECTED: EXIT_ASSOCIATION, AUTHENTICATION_FAILURE: EXIT_ASSOCIATION,
    DATA_ACCESS_RESULT: EXIT_RESULT, EXCEPTION_RESPONSE: EXIT_RESULT,
    CONFIRMED_SERVICE_ERROR: EXIT_RESULT, INVOCATION_COUNTER_ERROR: EXIT_RESULT,
}


class DataAccessFailed(Exception):
    """An attribute came back as a Data-Access-Result other than success."""

    def __init__(self, attribute: CosemAttributeDescriptor, result: DataAccessResult) -> None:
        super().__init__(f"{attribute}: {DATA_ACCESS_RESULT_NAMES[result]}")
        self.result = result


class ReleaseFailed(Exception):
    """The release failed; ``cause`` is why (a timeout, a lost connection...)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"release failed: {describe(cause)}")
        self.cause = cause


def failure_name(error: BaseException) -> str | None:
    """The campaign failure name of ``error`` (DESIGN.md "Result names"), None for an unexpected error."""
    if isinstance(error, ReleaseFailed):
        return failure_name(error.cause)
    if isinstance(error, twisted_errors.ConnectionRefusedError):
        return CONNECT_REFUSED
    if isinstance(error, (ResponseTimeout, twisted_errors.TimeoutError)):
        return TIMEOUT
    if isinstance(error, AssociationRefused):
        return f"{ASSOCIATION_REJECTED}:{aare_result(error.rejection.aare)}"
    if isinstance(error, AuthenticationRefused):
        return AUTHENTICATION_FAILURE
    if isinstance(error, DataAccessFailed):
        return f"{DATA_ACCESS_RESULT}:{DATA_ACCESS_RESULT_NAMES[error.result]}"
    if isinstance(error, ServiceRefused):
        refusal = error.failure.error
        if isinstance(refusal, ExceptionResponse):
            return exception_result(refusal.state_error, refusal.service_error)
        return f"{CONFIRMED_SERVICE_ERROR}:{enum_name(refusal.service)}/{enum_name(refusal.error)}"
    if isinstance(error, (ConnectionClosed, twisted_errors.ConnectionLost, twisted_errors.ConnectionDone)):
        return CONNECTION_LOST
    if isinstance(error, (twisted_errors.ConnectError, twisted_errors.DNSLookupError)):
        # No route, host unreachable, a name that does not resolve: the connection was never made.
        return CONNECT_REFUSED
    if isinstance(error, (DecodeError, ClientProtocolError)):
        return PROTOCOL_ERROR
    return None


def exit_code(error: BaseException) -> int:
    """The exit status for ``error`` (DESIGN.md): 3 transport, 4 association, 5 result, 6 release, else 1."""
    if isinstance(error, ReleaseFailed):
        return EXIT_RELEASE
    name = failure_name(error)
    if name is None:
        return EXIT_RUNTIME
    return _EXIT_BY_KIND.get(name.partition(":")[0], EXIT_RUNTIME)


def describe(error: BaseException) -> str:
    """One line for a person: the failure in the standard's words, e.g.
    ``association rejected: authentication-failure``."""
    name = failure_name(error)
    if isinstance(error, ReleaseFailed):
        return str(error)
    if name is None:
        return f"{type(error).__name__}: {error}"
    kind, _, detail = name.partition(":")
    if kind == ASSOCIATION_REJECTED:
        return f"association rejected: {detail}"
    if isinstance(error, AuthenticationRefused):
        return f"HLS {AUTHENTICATION_FAILURE}: {error.failure.reason}"
    if kind in (CONNECT_REFUSED, TIMEOUT, CONNECTION_LOST, PROTOCOL_ERROR):
        reason = str(error).strip().rstrip(".")
        return f"{name}: {reason}" if reason else name
    return name
