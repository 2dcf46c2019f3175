"""Tests of gateway.access: authentication, rate limits, the policy and row scopes, query limits and
the audit log. Their shared helpers stay one level up (tests/gateway/access_expectations.py,
audit_reading.py and conftest.py's ``world``), where transport tests use them too."""
