"""Enumerations of DLMS/COSEM (Green Book: IEC 62056-5-3; Blue Book: IEC 62056-6-2).

A leaf module: every layer may import it.
"""

from collections.abc import Mapping
from enum import IntEnum, IntFlag
from types import MappingProxyType
from typing import Final


class DataType(IntEnum):
    """Tags of the COSEM ``Data`` CHOICE (Green Book 9.5, Blue Book 4.1.5)."""

    NULL_DATA = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOLEAN = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5
    DOUBLE_LONG_UNSIGNED = 6
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    BCD = 13
    INTEGER = 15
    LONG = 16
    UNSIGNED = 17
    LONG_UNSIGNED = 18
    COMPACT_ARRAY = 19
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27
    DONT_CARE = 255


class ApduTag(IntEnum):
    """First byte of each APDU (Green Book 9.5, xDLMS APDUs and ACSE APDUs)."""

    INITIATE_REQUEST = 0x01
    INITIATE_RESPONSE = 0x08
    CONFIRMED_SERVICE_ERROR = 0x0E
    DATA_NOTIFICATION = 0x0F
    GLO_INITIATE_REQUEST = 0x21
    GLO_INITIATE_RESPONSE = 0x28
    GLO_CONFIRMED_SERVICE_ERROR = 0x2E
    DED_INITIATE_REQUEST = 0x41
    DED_INITIATE_RESPONSE = 0x48
    DED_CONFIRMED_SERVICE_ERROR = 0x4E
    AARQ = 0x60
    AARE = 0x61
    RLRQ = 0x62
    RLRE = 0x63
    GET_REQUEST = 0xC0
    SET_REQUEST = 0xC1
    EVENT_NOTIFICATION_REQUEST = 0xC2
    ACTION_REQUEST = 0xC3
    GET_RESPONSE = 0xC4
    SET_RESPONSE = 0xC5
    ACTION_RESPONSE = 0xC7
    GLO_GET_REQUEST = 0xC8
    GLO_SET_REQUEST = 0xC9
    GLO_EVENT_NOTIFICATION_REQUEST = 0xCA
    GLO_ACTION_REQUEST = 0xCB
    GLO_GET_RESPONSE = 0xCC
    GLO_SET_RESPONSE = 0xCD
    GLO_ACTION_RESPONSE = 0xCF
    DED_GET_REQUEST = 0xD0
    DED_SET_REQUEST = 0xD1
    DED_EVENT_NOTIFICATION_REQUEST = 0xD2
    DED_ACTION_REQUEST = 0xD3
    DED_GET_RESPONSE = 0xD4
    DED_SET_RESPONSE = 0xD5
    DED_ACTION_RESPONSE = 0xD7
    EXCEPTION_RESPONSE = 0xD8
    GENERAL_GLO_CIPHERING = 0xDB
    GENERAL_DED_CIPHERING = 0xDC
    GENERAL_CIPHERING = 0xDD
    GENERAL_SIGNING = 0xDF
    GENERAL_BLOCK_TRANSFER = 0xE0


class GetRequestType(IntEnum):
    NORMAL = 1
    NEXT = 2
    WITH_LIST = 3


class GetResponseType(IntEnum):
    NORMAL = 1
    WITH_DATABLOCK = 2
    WITH_LIST = 3


class SetRequestType(IntEnum):
    NORMAL = 1
    WITH_FIRST_DATABLOCK = 2
    WITH_DATABLOCK = 3
    WITH_LIST = 4
    WITH_LIST_AND_FIRST_DATABLOCK = 5


class SetResponseType(IntEnum):
    NORMAL = 1
    DATABLOCK = 2
    LAST_DATABLOCK = 3
    LAST_DATABLOCK_WITH_LIST = 4
    WITH_LIST = 5


class ActionRequestType(IntEnum):
    NORMAL = 1
    NEXT_PBLOCK = 2
    WITH_LIST = 3
    WITH_FIRST_PBLOCK = 4
    WITH_LIST_AND_FIRST_PBLOCK = 5
    WITH_PBLOCK = 6


class ActionResponseType(IntEnum):
    NORMAL = 1
    WITH_PBLOCK = 2
    WITH_LIST = 3
    NEXT_PBLOCK = 4


SERVICE_CHOICES: Final[dict[int, type[IntEnum]]] = {
    ApduTag.GET_REQUEST: GetRequestType,
    ApduTag.GET_RESPONSE: GetResponseType,
    ApduTag.SET_REQUEST: SetRequestType,
    ApduTag.SET_RESPONSE: SetResponseType,
    ApduTag.ACTION_REQUEST: ActionRequestType,
    ApduTag.ACTION_RESPONSE: ActionResponseType,
}
"""GET/SET/ACTION APDU tag -> the CHOICE of forms its second octet names (Green Book 9.5)."""


class DataAccessResult(IntEnum):
    """Green Book 9.5, Data-Access-Result."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_GET_ABORTED = 15
    NO_LONG_GET_IN_PROGRESS = 16
    LONG_SET_ABORTED = 17
    NO_LONG_SET_IN_PROGRESS = 18
    DATA_BLOCK_NUMBER_INVALID = 19
    OTHER_REASON = 250


class ActionResult(IntEnum):
    """Green Book 9.5, Action-Result."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_ACTION_ABORTED = 15
    NO_LONG_ACTION_IN_PROGRESS = 16
    OTHER_REASON = 250


class AssociationResult(IntEnum):
    """ACSE Association-result (Green Book 9.3)."""

    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class AcseServiceUserDiagnostic(IntEnum):
    """result-source-diagnostic, acse-service-user [1] (Green Book 9.3)."""

    NULL = 0
    NO_REASON_GIVEN = 1
    APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 2
    CALLING_AP_TITLE_NOT_RECOGNIZED = 3
    CALLING_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 4
    CALLING_AE_QUALIFIER_NOT_RECOGNIZED = 5
    CALLING_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 6
    CALLED_AP_TITLE_NOT_RECOGNIZED = 7
    CALLED_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 8
    CALLED_AE_QUALIFIER_NOT_RECOGNIZED = 9
    CALLED_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 10
    AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED = 11
    AUTHENTICATION_MECHANISM_NAME_REQUIRED = 12
    AUTHENTICATION_FAILURE = 13
    AUTHENTICATION_REQUIRED = 14


class AcseServiceProviderDiagnostic(IntEnum):
    """result-source-diagnostic, acse-service-provider [2] (Green Book 9.3)."""

    NULL = 0
    NO_REASON_GIVEN = 1
    NO_COMMON_ACSE_VERSION = 2


class ReleaseRequestReason(IntEnum):
    NORMAL = 0
    URGENT = 1
    USER_DEFINED = 30


class ReleaseResponseReason(IntEnum):
    NORMAL = 0
    NOT_FINISHED = 1
    USER_DEFINED = 30


class ApplicationContextName(IntEnum):
    """Last arc of the application context name OID 2.16.756.5.8.1.x (Green Book 9.4.2.2.2)."""

    LOGICAL_NAME = 1
    SHORT_NAME = 2
    LOGICAL_NAME_WITH_CIPHERING = 3
    SHORT_NAME_WITH_CIPHERING = 4


class AuthenticationMechanism(IntEnum):
    """Last arc of the mechanism name OID 2.16.756.5.8.2.x (Green Book 9.4.2.2.3)."""

    LOWEST = 0
    LLS = 1
    HLS = 2
    HLS_MD5 = 3
    HLS_SHA1 = 4
    HLS_GMAC = 5
    HLS_SHA256 = 6
    HLS_ECDSA = 7


class StateError(IntEnum):
    """EXCEPTION-Response state-error (Green Book 9.5)."""

    SERVICE_NOT_ALLOWED = 1
    SERVICE_UNKNOWN = 2


class ServiceError(IntEnum):
    """EXCEPTION-Response service-error (Green Book 9.5)."""

    OPERATION_NOT_POSSIBLE = 1
    SERVICE_NOT_SUPPORTED = 2
    OTHER_REASON = 3
    PDU_TOO_LONG = 4
    DECIPHERING_ERROR = 5
    INVOCATION_COUNTER_ERROR = 6


class ConfirmedServiceErrorChoice(IntEnum):
    """ConfirmedServiceError CHOICE: which service failed (Green Book 9.5)."""

    INITIATE_ERROR = 1
    GET_STATUS = 2
    GET_NAME_LIST = 3
    GET_VARIABLE_ATTRIBUTE = 4
    READ = 5
    WRITE = 6
    GET_DATA_SET_ATTRIBUTE = 7
    GET_TI_ATTRIBUTE = 8
    CHANGE_SCOPE = 9
    START = 10
    STOP = 11
    RESUME = 12
    MAKE_USABLE = 13
    INITIATE_LOAD = 14
    LOAD_SEGMENT = 15
    TERMINATE_LOAD = 16
    INITIATE_UP_LOAD = 17
    UP_LOAD_SEGMENT = 18
    TERMINATE_UP_LOAD = 19


class ServiceErrorKind(IntEnum):
    """ServiceError CHOICE inside ConfirmedServiceError (Green Book 9.5)."""

    APPLICATION_REFERENCE = 0
    HARDWARE_RESOURCE = 1
    VDE_STATE_ERROR = 2
    SERVICE = 3
    DEFINITION = 4
    ACCESS = 5
    INITIATE = 6
    LOAD_DATA_SET = 7
    TASK = 9
    OTHER_ERROR = 10


class InitiateError(IntEnum):
    """ServiceError initiate [6] values (Green Book 9.5)."""

    OTHER = 0
    DLMS_VERSION_TOO_LOW = 1
    INCOMPATIBLE_CONFORMANCE = 2
    PDU_SIZE_TOO_SHORT = 3
    REFUSED_BY_THE_VDE_HANDLER = 4


class Conformance(IntFlag):
    """The 24-bit conformance block (Green Book 9.4.6.1).

    Bit 0 of the standard is the most significant bit of the 24-bit value,
    so the flag value of standard bit n is ``1 << (23 - n)``.
    """

    RESERVED_ZERO = 1 << 23
    GENERAL_PROTECTION = 1 << 22
    GENERAL_BLOCK_TRANSFER = 1 << 21
    READ = 1 << 20
    WRITE = 1 << 19
    UNCONFIRMED_WRITE = 1 << 18
    DELTA_VALUE_ENCODING = 1 << 17
    RESERVED_SEVEN = 1 << 16
    ATTRIBUTE0_SUPPORTED_WITH_SET = 1 << 15
    PRIORITY_MGMT_SUPPORTED = 1 << 14
    ATTRIBUTE0_SUPPORTED_WITH_GET = 1 << 13
    BLOCK_TRANSFER_WITH_GET_OR_READ = 1 << 12
    BLOCK_TRANSFER_WITH_SET_OR_WRITE = 1 << 11
    BLOCK_TRANSFER_WITH_ACTION = 1 << 10
    MULTIPLE_REFERENCES = 1 << 9
    INFORMATION_REPORT = 1 << 8
    DATA_NOTIFICATION = 1 << 7
    ACCESS = 1 << 6
    PARAMETERIZED_ACCESS = 1 << 5
    GET = 1 << 4
    SET = 1 << 3
    SELECTIVE_ACCESS = 1 << 2
    EVENT_NOTIFICATION = 1 << 1
    ACTION = 1 << 0


class AttributeAccess(IntEnum):
    """attribute_access_item access_mode (Blue Book 4.4.4, Association LN v1+)."""

    NO_ACCESS = 0
    READ_ONLY = 1
    WRITE_ONLY = 2
    READ_AND_WRITE = 3
    AUTHENTICATED_READ_ONLY = 4
    AUTHENTICATED_WRITE_ONLY = 5
    AUTHENTICATED_READ_AND_WRITE = 6


class MethodAccess(IntEnum):
    """method_access_item access_mode (Blue Book 4.4.4, Association LN v1+)."""

    NO_ACCESS = 0
    ACCESS = 1
    AUTHENTICATED_ACCESS = 2


class AssociationStatus(IntEnum):
    """Association LN attribute 8, association_status (Blue Book 4.4.4)."""

    NON_ASSOCIATED = 0
    ASSOCIATION_PENDING = 1
    ASSOCIATED = 2


class SecurityPolicy(IntFlag):
    """security_policy of Security setup version 1 (Blue Book 4.4.7): what is
    authenticated, encrypted or signed in requests and in responses."""

    AUTHENTICATED_REQUEST = 1 << 2
    ENCRYPTED_REQUEST = 1 << 3
    DIGITALLY_SIGNED_REQUEST = 1 << 4
    AUTHENTICATED_RESPONSE = 1 << 5
    ENCRYPTED_RESPONSE = 1 << 6
    DIGITALLY_SIGNED_RESPONSE = 1 << 7


#: lab.ini ``security`` (the least protection an association accepts) and
#: the security_policy it stands for: the one table of the policies.
SECURITY_POLICIES: Final[Mapping[str, SecurityPolicy]] = MappingProxyType({
    "none": SecurityPolicy(0),
    "authentication": SecurityPolicy.AUTHENTICATED_REQUEST | SecurityPolicy.AUTHENTICATED_RESPONSE,
    "encryption": SecurityPolicy.ENCRYPTED_REQUEST | SecurityPolicy.ENCRYPTED_RESPONSE,
    "authenticated-encryption": (SecurityPolicy.AUTHENTICATED_REQUEST | SecurityPolicy.ENCRYPTED_REQUEST
                                 | SecurityPolicy.AUTHENTICATED_RESPONSE | SecurityPolicy.ENCRYPTED_RESPONSE),
})


class Unit(IntEnum):
    """Physical units of scaler_unit (Blue Book 4.3.2, table of enumerated units)."""

    YEAR = 1
    MONTH = 2
    WEEK = 3
    DAY = 4
    HOUR = 5
    MINUTE = 6
    SECOND = 7
    DEGREE = 8
    DEGREE_CELSIUS = 9
    CURRENCY = 10
    METRE = 11
    METRE_PER_SECOND = 12
    CUBIC_METRE = 13
    CUBIC_METRE_CORRECTED = 14
    CUBIC_METRE_PER_HOUR = 15
    CUBIC_METRE_PER_HOUR_CORRECTED = 16
    CUBIC_METRE_PER_DAY = 17
    CUBIC_METRE_PER_DAY_CORRECTED = 18
    LITRE = 19
    KILOGRAM = 20
    NEWTON = 21
    NEWTON_METRE = 22
    PASCAL = 23
    BAR = 24
    JOULE = 25
    JOULE_PER_HOUR = 26
    WATT = 27
    VOLT_AMPERE = 28
    VAR = 29
    WATT_HOUR = 30
    VOLT_AMPERE_HOUR = 31
    VAR_HOUR = 32
    AMPERE = 33
    COULOMB = 34
    VOLT = 35
    VOLT_PER_METRE = 36
    FARAD = 37
    OHM = 38
    OHM_SQUARE_METRE_PER_METRE = 39
    WEBER = 40
    TESLA = 41
    AMPERE_PER_METRE = 42
    HENRY = 43
    HERTZ = 44
    PER_WATT_HOUR = 45
    PER_VAR_HOUR = 46
    PER_VOLT_AMPERE_HOUR = 47
    VOLT_SQUARED_HOUR = 48
    AMPERE_SQUARED_HOUR = 49
    KILOGRAM_PER_SECOND = 50
    SIEMENS = 51
    KELVIN = 52
    PER_VOLT_SQUARED_HOUR = 53
    PER_AMPERE_SQUARED_HOUR = 54
    PER_CUBIC_METRE = 55
    PERCENTAGE = 56
    AMPERE_HOUR = 57
    WATT_HOUR_PER_CUBIC_METRE = 60
    JOULE_PER_CUBIC_METRE = 61
    MOLE_PERCENT = 62
    GRAM_PER_CUBIC_METRE = 63
    PASCAL_SECOND = 64
    JOULE_PER_KILOGRAM = 65
    OTHER = 254
    COUNT = 255


#: The Blue Book's symbol of each unit (4.3.2, table of enumerated units); count and other have none.
UNIT_SYMBOLS: Final[dict[int, str]] = {
    Unit.YEAR: "a", Unit.MONTH: "mo", Unit.WEEK: "wk", Unit.DAY: "d", Unit.HOUR: "h", Unit.MINUTE: "min",
    Unit.SECOND: "s", Unit.DEGREE: "°", Unit.DEGREE_CELSIUS: "°C", Unit.CURRENCY: "currency", Unit.METRE: "m",
    Unit.METRE_PER_SECOND: "m/s", Unit.CUBIC_METRE: "m³", Unit.CUBIC_METRE_CORRECTED: "m³",
    Unit.CUBIC_METRE_PER_HOUR: "m³/h", Unit.CUBIC_METRE_PER_HOUR_CORRECTED: "m³/h", Unit.CUBIC_METRE_PER_DAY: "m³/d",
    Unit.CUBIC_METRE_PER_DAY_CORRECTED: "m³/d", Unit.LITRE: "l", Unit.KILOGRAM: "kg", Unit.NEWTON: "N",
    Unit.NEWTON_METRE: "Nm", Unit.PASCAL: "Pa", Unit.BAR: "bar", Unit.JOULE: "J", Unit.JOULE_PER_HOUR: "J/h",
    Unit.WATT: "W", Unit.VOLT_AMPERE: "VA", Unit.VAR: "var", Unit.WATT_HOUR: "Wh", Unit.VOLT_AMPERE_HOUR: "VAh",
    Unit.VAR_HOUR: "varh", Unit.AMPERE: "A", Unit.COULOMB: "C", Unit.VOLT: "V", Unit.VOLT_PER_METRE: "V/m",
    Unit.FARAD: "F", Unit.OHM: "Ω", Unit.OHM_SQUARE_METRE_PER_METRE: "Ωm²/m", Unit.WEBER: "Wb", Unit.TESLA: "T",
    Unit.AMPERE_PER_METRE: "A/m", Unit.HENRY: "H", Unit.HERTZ: "Hz", Unit.PER_WATT_HOUR: "1/(Wh)",
    Unit.PER_VAR_HOUR: "1/(varh)", Unit.PER_VOLT_AMPERE_HOUR: "1/(VAh)", Unit.VOLT_SQUARED_HOUR: "V²h",
    Unit.AMPERE_SQUARED_HOUR: "A²h", Unit.KILOGRAM_PER_SECOND: "kg/s", Unit.SIEMENS: "S", Unit.KELVIN: "K",
    Unit.PER_VOLT_SQUARED_HOUR: "1/(V²h)", Unit.PER_AMPERE_SQUARED_HOUR: "1/(A²h)", Unit.PER_CUBIC_METRE: "1/m³",
    Unit.PERCENTAGE: "%", Unit.AMPERE_HOUR: "Ah", Unit.WATT_HOUR_PER_CUBIC_METRE: "Wh/m³",
    Unit.JOULE_PER_CUBIC_METRE: "J/m³", Unit.MOLE_PERCENT: "mol %", Unit.GRAM_PER_CUBIC_METRE: "g/m³",
    Unit.PASCAL_SECOND: "Pa s", Unit.JOULE_PER_KILOGRAM: "J/kg", Unit.OTHER: "", Unit.COUNT: "",
}

def enum_name(member: IntEnum | IntFlag) -> str:
    """The standard's spelling of a member: ``DataAccessResult.READ_WRITE_DENIED``
    -> "read-write-denied" (the member names follow the Green Book's)."""
    return (member.name or str(int(member))).lower().replace("_", "-")


def named(enum: type[IntEnum], value: int) -> str | None:
    """The standard's spelling of ``value`` in ``enum``, None when it has no name."""
    try:
        return enum_name(enum(value))
    except ValueError:
        return None


def names_of(enum: type[IntEnum]) -> dict[int, str]:
    """Every value of ``enum`` with its standard spelling."""
    return {int(member): enum_name(member) for member in enum}


#: The result enumerations by value, spelled as the Green Book (9.5, 9.3):
#: the one table of the names a packet log ``result`` takes from them.
DATA_ACCESS_RESULT_NAMES: Final = names_of(DataAccessResult)
ACTION_RESULT_NAMES: Final = names_of(ActionResult)
STATE_ERROR_NAMES: Final = names_of(StateError)
SERVICE_ERROR_NAMES: Final = names_of(ServiceError)
ACSE_USER_DIAGNOSTIC_NAMES: Final = names_of(AcseServiceUserDiagnostic)
ACSE_PROVIDER_DIAGNOSTIC_NAMES: Final = names_of(AcseServiceProviderDiagnostic)
