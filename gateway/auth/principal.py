"""Who is calling: the value every later decision (field policy, row scope, audit) reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PrincipalKind = Literal["api_key", "jwt", "anonymous"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, or the anonymous one.

    ``client_id``
        The configured client id (API keys) or the token's subject (JWT).
    ``role``
        What the caller may do; policies are written per role.
    ``kind``
        How the caller proved it: ``"api_key"``, ``"jwt"`` or ``"anonymous"``.
    ``school``
        An NPSN: a school operator sees only that school's pupils.
    ``region``
        A Kemendagri code prefix (e.g. ``"35.03.08"``): a puskesmas officer's coverage.
    ``agency``
        The OPD code the caller works for (e.g. ``"DINKES"``).
    """

    client_id: str
    role: str
    kind: PrincipalKind
    school: str | None = None
    region: str | None = None
    agency: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"


#: The caller that sent no credentials at all; what it may see is a policy decision.
ANONYMOUS = Principal(client_id="anonymous", role="anonymous", kind="anonymous")

#: The attributes a client entry or a token may set, in the order they are documented.
ATTRIBUTES = ("school", "region", "agency")
