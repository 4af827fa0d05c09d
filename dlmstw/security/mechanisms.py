"""Authentication mechanisms without cryptography: lowest level and LLS
(Green Book 9.2.7.4.1 and 9.2.7.4.2)."""

from __future__ import annotations

import hmac

from twisted.plugin import IPlugin
from zope.interface import implementer

from ..enums import AuthenticationMechanism
from ..interfaces import IAuthenticationMechanism


@implementer(IPlugin, IAuthenticationMechanism)
class LowestLevelSecurity:
    """No authentication: the AARQ carries no mechanism name."""

    mechanism_id = AuthenticationMechanism.LOWEST
    name = "none"
    hls = False
    titled = False
    required_keys = ()
    asymmetric = False

    def check_lls(self, configured_secret: bytes | None, calling_authentication_value: bytes | None) -> bool:
        return True


@implementer(IPlugin, IAuthenticationMechanism)
class LowLevelSecurity:
    """LLS: the AARQ's calling-authentication-value is the password (Green Book 9.2.7.4.2)."""

    mechanism_id = AuthenticationMechanism.LLS
    name = "lls"
    hls = False
    titled = False
    required_keys = ("lls_password",)
    asymmetric = False

    def check_lls(self, configured_secret: bytes | None, calling_authentication_value: bytes | None) -> bool:
        if configured_secret is None or calling_authentication_value is None:
            return False
        return hmac.compare_digest(configured_secret, calling_authentication_value)
