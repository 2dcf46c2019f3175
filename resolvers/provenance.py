"""Where each field's value comes from: the parent's record, a source call of its own, or the gateway.

The contract this states (issue 13): a field that asks a source for anything beyond the record
its parent was built from is **nullable**, so a source that is down, slow, or refuses the
caller costs only the fields it feeds. A non-null field that failed would null its parent, and
with it the answers of every other source under that parent (a region's name and schools for
one health-office error). Configuration decides which system answers for an entity, and any
extra call can time out on its own, so the rule is per call, not per system.

Every field with a resolver is in exactly one of the tables below; ``tests/test_cross_source_nullability.py``
walks the schema, fails on a field in none (declare it when you add it), checks that each field
of ``SOURCE_FED`` is nullable, that no ``NO_SOURCE`` resolver takes ``info`` (its way to a
source), and that ``FROM_CONFIG`` names what the gateway's configuration serves. Plain
attributes (no resolver) are read from the parent's own record and need no entry.
"""

from __future__ import annotations

#: The types of a discrepancy's values, one per kind of record compared (``resolvers.truth.types.VALUE_TYPES``).
DISCREPANCY_VALUES = (
    "StudentDiscrepancyValue",
    "HealthRecordDiscrepancyValue",
    "HealthInsuranceDiscrepancyValue",
    "ProgrammeParticipationDiscrepancyValue",
)

#: Connection types: their ``totalCount`` is a count query of its own at the source.
CONNECTIONS = (
    "PersonConnection",
    "SchoolConnection",
    "StudentConnection",
    "ProgrammeConnection",
    "ProgrammeParticipationConnection",
    "FeedbackConnection",
    "DiscrepancyConnection",
)

#: ``Type.field`` -> the vocabulary entity its resolver asks a source for (its own call).
SOURCE_FED: dict[str, str] = {
    # civil registry
    "Person.family": "Family",
    "Person.region": "Region",
    "Person.student": "Student",
    "Person.healthFacility": "HealthFacility",
    "Person.healthInsurance": "HealthInsurance",
    "Person.healthRecord": "Patient",
    "Person.programmes": "ProgrammeParticipant",
    "Family.head": "Person",
    "Family.members": "Person",
    "Family.region": "Region",
    "Region.parent": "Region",
    "Region.children": "Region",
    "Region.schools": "School",
    "Region.healthFacilities": "HealthFacility",
    "Region.caseReports": "CaseReport",
    "Region.residents": "Person",
    "Region.residentCounts": "Person",
    "Region.feedback": "Feedback",
    # education
    "School.region": "Region",
    "School.students": "Student",
    "School.pupilCounts": "Student",
    "School.attendance": "Attendance",
    "Student.school": "School",
    "Student.person": "Person",
    # health
    "HealthFacility.region": "Region",
    "HealthFacility.coverage": "Region",
    "HealthFacility.caseReports": "CaseReport",
    "CaseReport.facility": "HealthFacility",
    "CaseReport.region": "Region",
    "HealthRecord.registeredFacility": "HealthFacility",
    # social office
    "Programme.region": "Region",
    "Programme.facilitator": "Person",
    "Programme.sessions": "ProgrammeSession",
    "Programme.participants": "ProgrammeAttendance",
    "ProgrammeParticipation.person": "Person",
    "ProgrammeParticipation.programme": "Programme",
    "ProgrammeParticipation.attendance": "ProgrammeAttendance",
    "ProgrammeParticipation.sessionsExpected": "ProgrammeAttendance",
    "ProgrammeParticipation.sessionsAttended": "ProgrammeAttendance",
    "ProgrammeSession.region": "Region",
    "ProgrammeSession.programme": "Programme",
    # complaints
    "Feedback.region": "Region",
    "Feedback.reporter": "Person",
    "Agency.feedback": "Feedback",
    # one truth: the other agency's records compared with the registry's
    "Person.discrepancies": "Student",
    "Discrepancy.person": "Person",
    "Discrepancy.region": "Region",
    **{f"{value}.region": "Region" for value in DISCREPANCY_VALUES},
    "DiscrepancyCount.region": "Region",
    "Query.discrepancies": "Student",
    "Query.discrepancyCounts": "Student",
    # a report's total is a walk of the whole system it compares
    "DiscrepancyConnection.totalCount": "Student",
    # subscription events: each is read live, under the subscriber's policy, when it is sent
    "ResidentChange.person": "Person",
    "CaseReportAdded.report": "CaseReport",
    "AttendanceRecorded.school": "School",
    "AttendanceRecorded.totals": "Attendance",
    # signals (issue 12): the alert scan and each alert's explanation
    "Query.absenceAlerts": "Attendance",
    "AbsenceAlert.school": "School",
    "AbsenceAlert.caseReports": "CaseReport",
    "AbsenceAlert.healthFacilities": "HealthFacility",
    "AbsenceAlert.desaSpread": "Person",
    "AbsenceAlert.pupils": "Student",
    "DesaCount.region": "Region",
    # root fields: the root has no source, so every lookup and list is a call of its own
    "Query.person": "Person",
    "Query.family": "Family",
    "Query.school": "School",
    "Query.student": "Student",
    "Query.region": "Region",
    "Query.healthFacility": "HealthFacility",
    "Query.programme": "Programme",
    "Query.programmes": "Programme",
    "Query.feedback": "Feedback",
    "Query.persons": "Person",
    "Query.schools": "School",
    "Query.students": "Student",
    **{
        f"{connection}.totalCount": connection.removesuffix("Connection")
        for connection in CONNECTIONS
        if connection not in ("ProgrammeParticipationConnection", "DiscrepancyConnection")
    },
}

#: Fields with a resolver that asks no source: computed from the parent object or the page it
#: belongs to. Such a resolver takes no ``info`` (the walk checks), so it cannot reach a loader.
NO_SOURCE: frozenset[str] = frozenset(
    {
        "AttendanceDay.total",
        "Person.birthYear",
        "Student.birthYear",
        *(f"{value}.birthYear" for value in DISCREPANCY_VALUES),
        # the comparisons a report's walk made, and their errors, held by the page and its count rows
        "DiscrepancyConnection.comparisons",
        "DiscrepancyComparison.complete",
        "DiscrepancyCount.count",
        # a class's participants are counted from the attendance lists its page was cut from
        "ProgrammeParticipationConnection.totalCount",
        "PageInfo.startCursor",
        "PageInfo.endCursor",
        *(f"{connection}.nodes" for connection in CONNECTIONS),
        *(f"{connection.removesuffix('Connection')}Edge.cursor" for connection in CONNECTIONS),
    }
)

#: ``Type.field`` -> the entity it reads from the gateway's own configuration (the agencies and
#: their systems, ``connectors.registry``'s catalogue), which cannot fail at request time.
FROM_CONFIG: dict[str, str] = {
    "Query.agencies": "Agency",
    "Query.agency": "Agency",
    "Agency.sources": "Source",
    "Source.agency": "Agency",
    "Feedback.agency": "Agency",
    **{f"{value}.agency": "Agency" for value in DISCREPANCY_VALUES},
    "DiscrepancyCount.agency": "Agency",
    "DiscrepancyComparison.agency": "Agency",
}

#: Fields whose type a protocol fixes, whatever they read: federation's ``_entities: [_Entity]!``
#: (each entity in it is nullable, so one failed representation still costs only itself),
#: ``_service { sdl }`` (the schema's own text) and the subscription root's events.
PROTOCOL_FIXED: frozenset[str] = frozenset(
    {
        "Query._entities",
        "Query._service",
        "_Service.sdl",
        # A subscription's root field is an event per change notice (GraphQL's subscription algorithm);
        # its resolver reads the feed, never a source, and what the event reads is declared above.
        "Subscription.residentChanges",
        "Subscription.caseReportsAdded",
        "Subscription.attendanceRecorded",
        "Subscription.absenceAlertRaised",
        "Subscription.sourceStatus",
    }
)
