"""Access control: who may ask what of the graph, how often, and the record of what they saw.

The rest of ``gateway`` is the transport (HTTP, GraphiQL, workers, metrics, logs, the error
boundary); everything that decides whether a caller gets an answer lives here::

    control.py        AccessControl.admit / .record: the order a request is checked in
    auth/             who is calling: API keys, JWTs, the anonymous principal
    ratelimit.py      per-client request budgets (GCRA, in memory or in Redis)
    policy.py         the [policy] tables: roles, sensitivity classes, masks, purposes
    enforcement.py    the policy applied to each field as it resolves
    row_scope.py      the rows a role sees, where the source cannot filter them
    lookup_budget.py  distinct persons a client may look up per window
    limits/           the abuse limits a document passes before it runs (tokens, depth, cost, the heavy-query gate)
    audit/            the hash-chained log of every disclosure of personal data
"""

from .control import PURPOSE_HEADER, AccessControl, Admission, cursor_binding

__all__ = ["AccessControl", "Admission", "PURPOSE_HEADER", "cursor_binding"]
