"""Who is calling: the value every later decision (field policy, row scope, audit) reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PrincipalKind = Literal["api_key", "jwt", "anonymous"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, or the anonymous one.

    ``client_id``
        The caller's identity, typed by how it was proved, so that two kinds of credential can
        never name the same caller: ``api-key:<configured id>``, ``jwt:<issuer>:<subject>``, or
        ``anonymous``. The audit log and the rate limits key callers by it.
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

    @classmethod
    def for_api_key(cls, client_id: str, role: str, **attributes: str) -> Principal:
        """The caller holding the key of the ``[[clients]]`` entry ``client_id``."""

        return cls(client_id=f"api-key:{client_id}", role=role, kind="api_key", **attributes)

    @classmethod
    def for_jwt(cls, issuer: str, subject: str, role: str, **attributes: str) -> Principal:
        """The caller a token of ``issuer`` names as ``subject`` (two issuers' subjects never meet)."""

        return cls(client_id=f"jwt:{issuer}:{subject}", role=role, kind="jwt", **attributes)


#: The caller that sent no credentials at all; what it may see is a policy decision. Its role,
#: ``ANONYMOUS.role``, is the one the policy always has and the limits treat as unauthenticated.
ANONYMOUS = Principal(client_id="anonymous", role="anonymous", kind="anonymous")

#: The attributes a client entry or a token may set, in the order they are documented.
ATTRIBUTES = ("school", "region", "agency")
