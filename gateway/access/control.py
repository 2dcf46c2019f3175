"""``AccessControl``: what stands between a request and the graph, in the order it is checked.

1. who is calling (``gateway.access.auth``: API key, JWT, or anonymous);
2. whether they have budget left (``gateway.access.ratelimit``);
3. which role that is, and whether the declared purpose (``X-Satudata-Purpose``) is one
   the role may use (``gateway.access.policy``);
4. the row scope the role gets, handed to the connector registry so the sources filter;
5. after execution, the audit record of the personal data the answer disclosed
   (``gateway.access.audit``) — and if it cannot be written, the answer is withheld.

Query limits (depth, aliases, tokens, cost, introspection) run inside strawberry as an
extension (``gateway.access.limits``), and field decisions as another (``gateway.access.enforcement``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request

from connectors import Filter, SourceReader, SourceTrace
from core import ConfigError
from resolvers import CursorSeal

from .audit import AuditLog, AuditRecord
from .auth import Authenticator, Principal
from .auth.principal import ATTRIBUTES
from .enforcement import AccessContext
from .lookup_budget import LookupBudget
from .policy import Policy
from .ratelimit import RateLimited, RateLimiter, RateLimits
from .row_scope import SubjectScopedReader

log = logging.getLogger("satudata.gateway.access")

PURPOSE_HEADER = "x-satudata-purpose"


def cursor_binding(role: str, attributes: Mapping[str, Any] | None = None) -> str:
    """What every page cursor a caller of ``role`` receives is bound to (``CursorSeal.bound``): the role,
    and the caller's attributes, which its row scopes read (``region``, ``school``). Two clients of one role in two
    kecamatans list different rows; a cursor holds a row's key (a NIK), and one officer's, opened for
    another, would place a resident outside the second's scope among their own."""

    scoped = "".join(f"\x00{name}={value}" for name, value in sorted((attributes or {}).items()) if value not in (None, ""))
    return f"role:{role}{scoped}"


@dataclass(frozen=True)
class Admission:
    """An admitted request: its caller, their role's access context and row filters."""

    principal: Principal
    access: AccessContext
    row_filters: Mapping[str, tuple[Filter, ...]]

    def reader(self, session: SourceReader) -> SourceReader:
        """The request's source reader with the role's ``subject`` row scopes applied (pushed ones
        are in ``row_filters``, which the registry session adds to every query itself)."""

        return SubjectScopedReader.wrap(session, self.access.role.row_scope)

    def cursors(self, seal: CursorSeal) -> CursorSeal:
        """``seal`` bound to the caller's role and row-scope attributes: a cursor made for one role, or for
        a client of it that sees other rows, does not page for another."""

        return seal.bound(cursor_binding(self.access.role.name, self.access.attributes))


class AccessControl:
    """Authentication, rate limits, policy and audit for the GraphQL endpoint."""

    def __init__(
        self,
        policy: Policy,
        authenticator: Authenticator,
        *,
        audit: AuditLog | None = None,
        limiter: RateLimiter | None = None,
        lookups: LookupBudget | None = None,
        declared: bool = True,
    ) -> None:
        self.policy = policy
        #: Whether the config has a ``[policy]`` (without one every field is public: development only).
        self.declared = declared
        self.authenticator = authenticator
        self.audit = audit
        self.limiter = limiter
        self.lookups = lookups if lookups is not None else LookupBudget.from_settings(policy.lookups)
        #: Called with (role, outcome) for every request refused on personal data (``/metrics``).
        self.refusal_observers: list[Callable[[str, str], None]] = []

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], *, base_dir: Path | None = None, production: bool = False) -> AccessControl:
        """Build from the parsed config file. Without ``[policy]`` every field is public:
        allowed for development only, refused in production mode."""

        if "policy" not in raw:
            if production:
                raise ConfigError("production mode needs a [policy]: without one every field would be public")
            log.warning("no [policy] in the config: every field is public and nothing is audited (development only)")
        policy = Policy.from_config(raw.get("policy"))
        for client in raw.get("clients", ()):
            if client.get("role") not in policy.roles:
                raise ConfigError(f"clients: {client.get('id')!r} has role {client.get('role')!r}, which [policy.roles] does not define")
        audit = AuditLog.from_settings(raw, base_dir=base_dir) if "policy" in raw else None
        if production and audit is not None and not audit.subjects.pseudonymous:
            raise ConfigError(
                "production mode keeps no NIK in the audit log: set [audit] subject_key "
                "(e.g. \"env:SATUDATA_AUDIT_SUBJECT_KEY\", made by `satudata keygen-secret`)"
            )
        limiter = RateLimiter.from_limits(RateLimits.from_config(raw["ratelimit"])) if "ratelimit" in raw else None
        # Replicas sharing a Redis lookup count digest keys alike: with the audit's keyed pseudonym.
        digest = audit.subjects.stored if audit is not None and audit.subjects.pseudonymous else None
        lookups = LookupBudget.from_settings(policy.lookups, digest=digest)
        return cls(
            policy, Authenticator.from_settings(raw, base_dir=base_dir), audit=audit, limiter=limiter, lookups=lookups,
            declared="policy" in raw,
        )

    def traces_for(self, admission: Admission) -> bool:
        """Whether the caller may have the source trace (``X-Satudata-Trace: sources``) in its answer:
        without a ``[policy]``, or for a role that may ``operations``. The calls and rows per source
        are counted before a row scope or a mask applies and their time grows with what a source
        holds, so an answer emptied by the caller's row scope, with a trace that read rows, or more
        statements on one day than another, tells the caller what the policy keeps from it."""

        return not self.declared or admission.access.role.may("operations")

    async def start(self) -> None:
        if self.audit is not None:
            await self.audit.start()

    async def aclose(self) -> None:
        await self.authenticator.aclose()
        if self.limiter is not None:
            await self.limiter.aclose()
        await self.lookups.aclose()
        if self.audit is not None:
            await self.audit.aclose()

    async def admit(self, request: Request) -> Admission:
        """Check who is calling and why.

        Raises ``Unauthenticated`` (401), ``AuthUnavailable`` (503), ``RateLimited`` (429) or
        ``AccessDenied`` (403); ``gateway.errors`` writes the refusal.
        """

        principal = await self.authenticator.authenticate(request.headers)
        if self.limiter is not None:
            # Anonymous callers share no identity: budget them by address instead.
            who = principal.client_id if not principal.is_anonymous else f"ip:{request.client.host if request.client else '-'}"
            check = await self.limiter.hit(who, principal.role)
            if not check.allowed:
                raise RateLimited(check)
        return self.admission(principal, (request.headers.get(PURPOSE_HEADER) or "").strip() or None)

    def admission(self, principal: Principal, purpose: str | None) -> Admission:
        """``principal``'s admission for ``purpose``, without a request: what ``admit`` ends with, and what a
        reader inside the gateway (the Smart Center screen) runs its queries as. Raises ``AccessDenied``."""

        role = self.policy.role(principal.role)
        self.policy.check_purpose(role, purpose)
        attributes = {name: getattr(principal, name) for name in ATTRIBUTES}
        access = AccessContext(
            self.policy, role, purpose, attributes=attributes, principal_key=principal.client_id, budget=self.lookups
        )
        return Admission(principal, access, self.policy.row_filters(role, attributes))

    async def record(
        self,
        admission: Admission,
        data: Any,
        *,
        document: str,
        operation: str | None,
        trace: SourceTrace,
        request_id: str,
        nulled: bool = True,
    ) -> bool:
        """Append the audit record for an answer; ``False`` if it neither disclosed nor was refused anything personal.

        ``nulled=False``: the answer has no errors, so nothing noted was nulled afterwards
        (``AccessContext.disclosed``).

        Any object about a person in the answer is a disclosure, whatever was selected of it;
        a request refused on personal data (a field, an argument, the lookup budget) is recorded
        too, with what it was refused. Raises ``AuditUnavailable`` when the record could not be
        written: the caller must then withhold the answer (fail closed).
        """

        access = admission.access
        disclosed = access.disclosed(data, nulled=nulled)
        outcome = "budget_exceeded" if access.budget_exceeded else "refused" if not disclosed.fields else "answered"
        if access.refused:
            for observe in self.refusal_observers:
                observe(access.role.name, "budget_exceeded" if access.budget_exceeded else "refused")
        if (not disclosed.fields and not access.refused) or self.audit is None:
            return False
        record = AuditRecord.for_request(
            principal=admission.principal,
            purpose=access.purpose,
            operation=access.operation or operation,
            document=document,
            persons=disclosed.subjects,
            fields=disclosed.fields,
            masked=disclosed.masked,
            refused=access.refused,
            outcome=outcome,
            trace=trace,
            request_id=request_id,
        )
        await self.audit.append(record)
        return True


__all__ = ["AccessControl", "Admission", "PURPOSE_HEADER", "cursor_binding"]
