"""The policy's decisions on concrete cells, written out by hand (the matrix test derives its
expectations from ``Policy.decide``; these pin ``decide`` itself), its config errors, and masks."""

from __future__ import annotations

import tomllib
from datetime import date

import pytest

from connectors import Filter
from core import ConfigError
from demo.gateway_config import render_config
from gateway.access.enforcement import AccessContext
from gateway.access.policy import CLASSES, AccessDenied, Action, Mask, Policy, Role, apply_mask

DEMO = tomllib.loads(render_config(registry_url="sqlite+aiosqlite:///r", education_url="sqlite+aiosqlite:///e", access=True))
POLICY = Policy.from_config(DEMO["policy"])

CELLS = [
    # role, purpose, Type.field, action, mask/code
    ("anonymous", None, "Query.person", Action.REFUSE, "FORBIDDEN"),
    ("anonymous", None, "School.name", Action.ALLOW, None),
    ("anonymous", None, "School.students", Action.REFUSE, "FORBIDDEN"),
    ("anonymous", None, "CaseReport.cases", Action.ALLOW, None),
    ("smart_center_analyst", "statistik", "Person.nik", Action.MASK, Mask.NIK),
    ("smart_center_analyst", "statistik", "Person.name", Action.MASK, Mask.INITIALS),
    ("smart_center_analyst", "statistik", "Person.birthDate", Action.MASK, Mask.YEAR),
    ("smart_center_analyst", "statistik", "Person.religion", Action.MASK, Mask.HIDE),
    ("smart_center_analyst", "statistik", "HealthRecord.bloodType", Action.REFUSE, "FORBIDDEN"),
    ("smart_center_analyst", None, "Person.nik", Action.REFUSE, "PURPOSE_REQUIRED"),
    ("registry_officer", "administrasi-kependudukan", "Person.name", Action.ALLOW, None),
    ("registry_officer", "administrasi-kependudukan", "Person.student", Action.REFUSE, "FORBIDDEN"),
    ("health_officer", "surveilans", "HealthRecord.chronicConditions", Action.ALLOW, None),
    ("health_officer", "surveilans", "Person.programmes", Action.REFUSE, "FORBIDDEN"),
    ("programme_facilitator", "pendampingan-program", "ProgrammeParticipation.disabilityType", Action.ALLOW, None),
    ("programme_facilitator", "pendampingan-program", "HealthRecord.bloodType", Action.REFUSE, "FORBIDDEN"),
    ("school_operator", "administrasi-sekolah", "Student.name", Action.ALLOW, None),
    ("school_operator", "administrasi-sekolah", "Student.person", Action.ALLOW, None),
    ("school_operator", "administrasi-sekolah", "Person.name", Action.REFUSE, "FORBIDDEN"),
    ("neighbour_portal", "layanan-publik", "Family.kk", Action.MASK, Mask.NIK),
    ("neighbour_portal", "layanan-publik", "Student.name", Action.REFUSE, "FORBIDDEN"),
]


@pytest.mark.parametrize("role,purpose,field,action,detail", CELLS, ids=[f"{c[0]}:{c[2]}" for c in CELLS])
def test_decisions(role: str, purpose: str | None, field: str, action: Action, detail: object) -> None:
    type_name, field_name = field.split(".")
    decision = POLICY.decide(POLICY.role(role), purpose, type_name, field_name)
    assert decision.action is action
    if action is Action.MASK:
        assert decision.mask is detail
    if action is Action.REFUSE:
        assert decision.code == detail
        assert field in decision.reason


def test_a_purpose_the_role_may_not_use_is_refused() -> None:
    with pytest.raises(AccessDenied) as refused:
        POLICY.check_purpose(POLICY.role("health_officer"), "statistik")
    # The role's own purposes are not listed: they would tell a caller what else to claim.
    assert refused.value.code == "PURPOSE_NOT_ALLOWED" and "pelayanan-kesehatan" not in refused.value.message
    POLICY.check_purpose(POLICY.role("health_officer"), "surveilans")
    POLICY.check_purpose(POLICY.role("health_officer"), None)  # fields without purpose are refused one by one


def test_row_scope_filters_fail_closed_without_the_attribute() -> None:
    officer = POLICY.role("health_officer")
    assert POLICY.row_filters(officer, {"region": "35.03.08"}) == {
        "Person": (Filter("regionCode", "prefix", ("35.03.08",)),),
        "Family": (Filter("regionCode", "prefix", ("35.03.08",)),),
    }
    assert POLICY.row_filters(officer, {"region": None}) == {
        "Person": (Filter("regionCode", "in", ()),),
        "Family": (Filter("regionCode", "in", ()),),
    }
    operator = POLICY.role("school_operator")
    assert POLICY.row_filters(operator, {"school": "20512345"}) == {"Student": (Filter("school", "eq", "20512345"),)}


def test_a_list_of_classes_opens_a_field_to_a_role_that_sees_any_of_them() -> None:
    """``"Query.report" = ["health", "children"]``: granted where the role sees one of them in full,
    masked where it sees one only masked, refused where it sees none; a link so classed cannot be masked."""

    policy = Policy.from_config({
        "fields": {"Query.report": ["health", "children"], "Person.report": {"class": ["health", "children"]}},
        "roles": {
            "nurse": {"grant": ["personal", "health"], "purposes": ["p"]},
            "teacher": {"grant": ["children"], "purposes": ["p"]},
            "analyst": {"mask": ["personal", "children"], "purposes": ["p"]},
            "clerk": {"grant": ["personal"], "purposes": ["p"]},
        },
    })
    policy.classify_links({"Person.report": ("Person", frozenset({"Person"}))}, {"Person"})

    def decide(role: str, field: str, purpose: str | None = "p") -> tuple[Action, str]:
        d = policy.decide(policy.role(role), purpose, *field.split("."))
        return d.action, d.sensitivity if d.action is not Action.REFUSE else d.code

    assert decide("nurse", "Query.report") == (Action.ALLOW, "health")
    assert decide("teacher", "Query.report") == (Action.ALLOW, "children")
    assert decide("analyst", "Query.report") == (Action.MASK, "children")
    assert decide("clerk", "Query.report") == (Action.REFUSE, "FORBIDDEN")
    assert decide("anonymous", "Query.report") == (Action.REFUSE, "FORBIDDEN")
    assert decide("nurse", "Query.report", None) == (Action.REFUSE, "PURPOSE_REQUIRED")
    assert decide("teacher", "Person.report") == (Action.ALLOW, "children")
    assert decide("analyst", "Person.report") == (Action.REFUSE, "FORBIDDEN")  # a link, only masked
    assert "health or children" in policy.decide(policy.role("clerk"), "p", "Query", "report").reason


def test_unknown_roles_are_refused() -> None:
    with pytest.raises(AccessDenied):
        POLICY.role("superuser")


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"fields": {"Person": "personal"}}, "Type.field"),
        ({"fields": {"Person.nik": "secret"}}, "class 'secret'"),
        ({"fields": {"Person.nik": {"class": "personal", "mask": "blur"}}}, "mask 'blur'"),
        ({"roles": {"x": {"grant": ["health", "public"]}}}, "policy.roles.x.grant"),
        ({"roles": {"x": {"row_scope": {"Person": {"field": "regionCode"}}}}}, "row_scope.Person"),
        ({"roles": {"anonymous": {"grant": ["personal"]}}}, "anonymous"),
        ({"roles": {"x": {"colour": "red"}}}, "unknown key"),
        ({"rules": {}}, "unknown key"),
        ({"fields": {"Query.report": []}}, "a list of classes"),
        ({"fields": {"Query.report": ["personal", "public"]}}, "a list of classes"),
    ],
)
def test_config_errors_name_the_key(raw: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Policy.from_config(raw)


def test_masks() -> None:
    assert apply_mask(Mask.NIK, "3503050706170001") == "3503**********01"
    assert apply_mask(Mask.INITIALS, "Siti Nur Aminah") == "S. N. A."
    assert apply_mask(Mask.YEAR, date(1985, 3, 12)) is None  # a Date is never "1985": the year is birthYear
    assert apply_mask(Mask.YEAR, 1985) == 1985
    assert apply_mask(Mask.HIDE, "Islam") is None
    assert apply_mask(Mask.NIK, None) is None
    assert apply_mask(Mask.INITIALS, ["Budi Santoso", "Sri"]) == ["B. S.", "S."]


def _every_field(policy: Policy) -> list[tuple[str, str]]:
    names = {*policy.fields, *policy.links, *(cell[2] for cell in CELLS)}
    return sorted(tuple(name.split(".", 1)) for name in names if not name.endswith(".*"))  # type: ignore[misc]


def test_requests_share_each_role_and_purposes_decisions_and_they_are_policy_decide_s() -> None:
    """Every (role, purpose) pair the policy admits: what a request decides is ``Policy.decide``'s
    answer, taken once and shared with the next request of the same pair, never with another pair."""

    policy = Policy.from_config(DEMO["policy"])
    tables: dict[int, tuple[str, str | None]] = {}
    for role in policy.roles.values():
        for purpose in (None, *sorted(role.purposes)):
            first = AccessContext(policy, role, purpose)
            for type_name, field_name in _every_field(policy):
                assert first.decide(type_name, field_name) == policy.decide(role, purpose, type_name, field_name)
            second = AccessContext(policy, role, purpose)
            assert second._decisions is first._decisions  # taken once: the second request decides nothing anew
            owner = tables.setdefault(id(first._decisions), (role.name, purpose))
            assert owner == (role.name, purpose), "two pairs share one table of decisions"


def test_a_purpose_the_role_may_not_use_keeps_nothing_in_the_policy() -> None:
    """An undeclared purpose (refused at admission; here decided anyway) gets a table of its own:
    a client sending a new purpose each time cannot grow what the process keeps."""

    policy = Policy.from_config(DEMO["policy"])
    role = policy.role("registry_officer")
    for n in range(50):
        access = AccessContext(policy, role, f"made-up-{n}")
        assert access.decide("Person", "name") == policy.decide(role, f"made-up-{n}", "Person", "name")
    assert all(purpose in role.purposes or purpose is None for _, purpose in policy._decided)
    stranger = Role("registry_officer", grant=frozenset(CLASSES))  # the name of a role, not the policy's role
    assert AccessContext(policy, stranger, None)._decisions is not AccessContext(policy, role, None)._decisions
    assert AccessContext(policy, stranger, None).decide("Person", "name") == policy.decide(stranger, None, "Person", "name")


def test_decisions_taken_before_the_links_are_classed_are_taken_again() -> None:
    """``classify_links`` (at start-up) changes what a link field is: a decision taken before it is not kept."""

    policy = Policy.from_config(DEMO["policy"])
    role = policy.role("neighbour_portal")
    purpose = sorted(role.purposes)[0]
    before = AccessContext(policy, role, purpose).decide("Person", "family")
    policy.classify_links({"Person.family": ("Person", frozenset({"Family"}))}, {"Person"})
    after = AccessContext(policy, role, purpose).decide("Person", "family")
    assert after == policy.decide(role, purpose, "Person", "family")
    assert before != after, "the test needs a link whose class the classing changes"
