"""Who is calling: API keys and bearer JWTs become a ``Principal``.

The request path calls ``await authenticator.authenticate(request.headers)`` once per
request, before GraphQL runs, and turns ``Unauthenticated`` into HTTP 401 and
``AuthUnavailable`` into 503 at its boundary.
"""

from .api_keys import ApiKeyStore, key_sha256, new_api_key
from .authenticator import Authenticator
from .bearer import JwtVerifier
from .errors import AuthUnavailable, Unauthenticated
from .jwks import JwksFile, JwksUrl, SigningKeys
from .principal import ANONYMOUS, Principal, PrincipalKind
from .settings import SUPPORTED_ALGORITHMS, AuthSettings, JwtSettings

__all__ = [
    "ANONYMOUS",
    "SUPPORTED_ALGORITHMS",
    "ApiKeyStore",
    "AuthSettings",
    "AuthUnavailable",
    "Authenticator",
    "JwksFile",
    "JwksUrl",
    "JwtSettings",
    "JwtVerifier",
    "Principal",
    "PrincipalKind",
    "SigningKeys",
    "Unauthenticated",
    "key_sha256",
    "new_api_key",
]
