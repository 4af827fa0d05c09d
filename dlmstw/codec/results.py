"""The ``result`` of an exchange, named from the meter's answer (DESIGN.md
"Result names"): the Green Book's names of Data-Access-Result, Action-Result,
the EXCEPTION-Response's state-error and service-error (IEC 62056-5-3 9.5)
and the AARE's result-source-diagnostic (9.3.2), spelled as ``dlmstw.enums``
spells them.

Sans-I/O and cheap where it matters: a GET/SET/ACTION normal answer is named
from the octets after its invoke-id, without decoding the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from ..enums import (
    ACSE_PROVIDER_DIAGNOSTIC_NAMES,
    ACSE_USER_DIAGNOSTIC_NAMES,
    ACTION_RESULT_NAMES,
    DATA_ACCESS_RESULT_NAMES,
    SERVICE_ERROR_NAMES,
    STATE_ERROR_NAMES,
    AcseServiceUserDiagnostic,
    ApduTag,
    AssociationResult,
    GetResponseType,
    ServiceError,
)
from ..errors import DecodeError
from . import acse, services
from .acse import AARE

SUCCESS: Final = "success"
#: Some items of a with-list answer failed, not all of them alike.
PARTIAL: Final = "partial"
RELEASED: Final = "released"
AUTHENTICATION_REQUIRED: Final = ACSE_USER_DIAGNOSTIC_NAMES[AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED]
#: What an AARE that gives no known reason, or a null one, names.
NO_REASON_GIVEN: Final = ACSE_USER_DIAGNOSTIC_NAMES[AcseServiceUserDiagnostic.NO_REASON_GIVEN]
INVOCATION_COUNTER_ERROR: Final = SERVICE_ERROR_NAMES[ServiceError.INVOCATION_COUNTER_ERROR]
#: A wrong f(StoC) in HLS pass 3 (its ACTION answer carries read-write-denied).
AUTHENTICATION_FAILURE: Final = ACSE_USER_DIAGNOSTIC_NAMES[AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE]
#: A request that does not parse where the meter cannot name a better reason.
MALFORMED: Final = "malformed"


def list_result(codes: Iterable[int], names: dict[int, str]) -> str:
    """The items of a with-list answer (0 is success): ``success``, the one
    failure every item had, or ``partial``."""
    codes = tuple(codes)
    failures = set(codes) - {0}
    if not failures:
        return SUCCESS
    if len(failures) == 1 and 0 not in codes:
        return names[failures.pop()]
    return PARTIAL


def exception_result(state_error: int, service_error: int) -> str:
    """``exception-response:<state-error>/<service-error>`` (Green Book 9.5),
    or ``invocation-counter-error`` for that service-error."""
    if service_error == ServiceError.INVOCATION_COUNTER_ERROR:
        return INVOCATION_COUNTER_ERROR
    return f"exception-response:{STATE_ERROR_NAMES[state_error]}/{SERVICE_ERROR_NAMES[service_error]}"


def aare_result(aare: AARE) -> str:
    """An AARE's result (Green Book 9.3.2): ``success``, ``authentication-required``
    (HLS pass 2), or the diagnostic of a rejection."""
    source, diagnostic = aare.result_source_diagnostic
    if aare.result == AssociationResult.ACCEPTED:
        return (AUTHENTICATION_REQUIRED if (source, diagnostic) == (acse.SOURCE_ACSE_SERVICE_USER,
                                                                   AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED)
                else SUCCESS)
    names = ACSE_USER_DIAGNOSTIC_NAMES if source == acse.SOURCE_ACSE_SERVICE_USER else ACSE_PROVIDER_DIAGNOSTIC_NAMES
    return (names.get(diagnostic) if diagnostic else None) or NO_REASON_GIVEN


def _get_with_list(apdu: bytes) -> str:
    response = services.decode_response(apdu)
    assert isinstance(response, services.GetResponseWithList)
    return list_result((0 if isinstance(r, bytes) else r for r in response.results), DATA_ACCESS_RESULT_NAMES)


def _set_with_list(apdu: bytes) -> str:
    response = services.decode_response(apdu)
    assert isinstance(response, (services.SetResponseWithList, services.SetResponseLastDatablockWithList))
    return list_result(response.results, DATA_ACCESS_RESULT_NAMES)


def _action_with_list(apdu: bytes) -> str:
    response = services.decode_response(apdu)
    assert isinstance(response, services.ActionResponseWithList)
    return list_result((result for result, _ in response.results), ACTION_RESULT_NAMES)


def _success(apdu: bytes) -> str:
    return SUCCESS


_DAR = DATA_ACCESS_RESULT_NAMES
_GET_RESPONSE = ApduTag.GET_RESPONSE.value
_NORMAL = GetResponseType.NORMAL.value
#: Each response form by its first two octets (tag, CHOICE; Green Book 9.5): its namer.
_FORMS: Final[dict[bytes, Callable[[bytes], str]]] = {
    # Get-Response-With-Datablock: invoke-id, last-block, block-number (4), raw-data [0] | data-access-result [1].
    b"\xc4\x02": lambda a: SUCCESS if a[8] == 0 else _DAR[a[9]],
    b"\xc4\x03": _get_with_list,
    b"\xc5\x01": lambda a: _DAR[a[3]],
    b"\xc5\x02": _success,
    b"\xc5\x03": lambda a: _DAR[a[3]],
    b"\xc5\x04": _set_with_list,
    b"\xc5\x05": _set_with_list,
    b"\xc7\x01": lambda a: ACTION_RESULT_NAMES[a[3]],
    b"\xc7\x02": _success,
    b"\xc7\x03": _action_with_list,
    b"\xc7\x04": _success,
}


def response_result(apdu: bytes) -> str:
    """The result name of a plain answer of the meter: a GET/SET/ACTION
    response, an EXCEPTION-Response, an AARE or an RLRE. ``DecodeError``
    for anything else.

    A Get-Response-Normal is invoke-id, then Get-Data-Result: data [0] or
    data-access-result [1] and its value (Green Book 9.5)."""
    try:
        if apdu[0] == _GET_RESPONSE and apdu[1] == _NORMAL:  # the common answer, first
            return SUCCESS if apdu[3] == 0 else _DAR[apdu[4]]
        form = _FORMS.get(apdu[:2])
        if form is not None:
            return form(apdu)
        tag = apdu[0]
        if tag == ApduTag.EXCEPTION_RESPONSE:
            return exception_result(apdu[1], apdu[2])
        if tag == ApduTag.AARE:
            return aare_result(acse.decode_aare(apdu))
        if tag == ApduTag.RLRE:
            return RELEASED
    except (IndexError, KeyError) as error:
        raise DecodeError(f"a response cut short or with an unknown result: {error!r}", 0) from None
    raise DecodeError(f"not an answer of the meter: {apdu[:2].hex()}", 0)
