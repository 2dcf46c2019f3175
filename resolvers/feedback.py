"""Feedback: citizens' complaints, suggestions, aspirations and questions (SP4N-LAPOR!-like, run by Diskominfo)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from connectors import Filter, Record

from .context import Info
from .enums import enum_or_none
from .errors import InvalidInput
from .pagination import Connection, paginate
from .scalars import RegionCode

if TYPE_CHECKING:
    from .agency import Agency
    from .person import Person
    from .region import Region

#: Western Indonesia Time: the regency's days, which a date range means.
WIB = timezone(timedelta(hours=7), "WIB")


@strawberry.enum(description="What a citizen's report is.")
class FeedbackKind(Enum):
    COMPLAINT = strawberry.enum_value("COMPLAINT", description="Pengaduan: something is wrong.")
    SUGGESTION = strawberry.enum_value("SUGGESTION", description="Saran: a proposal to do something better.")
    ASPIRATION = strawberry.enum_value("ASPIRATION", description="Aspirasi: a wish for something new.")
    INFORMATION_REQUEST = strawberry.enum_value("INFORMATION_REQUEST", description="Permintaan informasi: a question.")


@strawberry.enum(description="The topic of a citizen's report, as the complaint system files it.")
class FeedbackCategory(Enum):
    ROADS = strawberry.enum_value("ROADS", description="Jalan rusak: damaged roads.")
    BRIDGES_AND_DRAINAGE = strawberry.enum_value("BRIDGES_AND_DRAINAGE", description="Jembatan dan drainase.")
    STREET_LIGHTING = strawberry.enum_value("STREET_LIGHTING", description="Penerangan jalan umum.")
    CIVIL_REGISTRATION = strawberry.enum_value("CIVIL_REGISTRATION", description="Adminduk/KTP: identity papers and civil registration.")
    MISTARGETED_SOCIAL_AID = strawberry.enum_value("MISTARGETED_SOCIAL_AID", description="Bantuan sosial salah sasaran.")
    NEGLECTED_MENTAL_ILLNESS = strawberry.enum_value(
        "NEGLECTED_MENTAL_ILLNESS", description="ODGJ terlantar: people with a mental illness left without care."
    )
    HEALTH_SERVICES = strawberry.enum_value("HEALTH_SERVICES", description="Pelayanan puskesmas: health services.")
    OUTBREAK = strawberry.enum_value("OUTBREAK", description="Wabah/penyakit menular: outbreaks and infectious disease.")
    SCHOOLS = strawberry.enum_value("SCHOOLS", description="Sekolah/PPDB: schools and admissions.")
    CLEAN_WATER = strawberry.enum_value("CLEAN_WATER", description="Air bersih: water supply.")
    WASTE = strawberry.enum_value("WASTE", description="Sampah: waste collection.")
    SUBSIDISED_FERTILISER = strawberry.enum_value("SUBSIDISED_FERTILISER", description="Pupuk bersubsidi.")
    PERMITS = strawberry.enum_value("PERMITS", description="Perizinan: business and building permits.")
    DISASTER = strawberry.enum_value("DISASTER", description="Bencana/tanah longsor: landslides and other disasters.")
    EMPLOYMENT = strawberry.enum_value("EMPLOYMENT", description="Ketenagakerjaan: work, wages and training.")
    PUBLIC_INFORMATION = strawberry.enum_value("PUBLIC_INFORMATION", description="Layanan informasi publik.")


@strawberry.enum(description="How a report came in.")
class FeedbackChannel(Enum):
    WEB = strawberry.enum_value("WEB", description="The complaint website.")
    WHATSAPP = strawberry.enum_value("WHATSAPP", description="WhatsApp.")
    SMS = strawberry.enum_value("SMS", description="Text message.")
    HOTLINE = strawberry.enum_value("HOTLINE", description="Telephone hotline.")
    SOCIAL_MEDIA = strawberry.enum_value("SOCIAL_MEDIA", description="Social media.")


@strawberry.enum(description="Where a report is in its handling.")
class FeedbackStatus(Enum):
    NEW = strawberry.enum_value("NEW", description="Baru: received, not yet verified.")
    VERIFIED = strawberry.enum_value("VERIFIED", description="Diverifikasi: verified, not yet disposed to an agency.")
    DISPATCHED = strawberry.enum_value("DISPATCHED", description="Didisposisi: disposed to the agency that must act.")
    IN_PROGRESS = strawberry.enum_value("IN_PROGRESS", description="Ditindaklanjuti: the agency is acting on it.")
    RESOLVED = strawberry.enum_value("RESOLVED", description="Selesai: closed.")


@strawberry.input(description="Conditions on citizens' reports; all given conditions must hold.")
class FeedbackFilter:
    status: FeedbackStatus | None = strawberry.field(default=None, description="Only reports with this status.")
    kind: FeedbackKind | None = strawberry.field(default=None, description="Only reports of this kind.")
    category: FeedbackCategory | None = strawberry.field(default=None, description="Only reports on this topic.")
    region: RegionCode | None = strawberry.field(default=None, description="Only reports about a place within this region (any level).")
    agency: str | None = strawberry.field(default=None, description="Only reports disposed to this agency (its code, e.g. `DINKES`).")
    submitted_from: date | None = strawberry.field(default=None, description="Submitted on or after this day (WIB).")
    submitted_to: date | None = strawberry.field(default=None, description="Submitted on or before this day (WIB).")


@strawberry.type(
    description="A citizen's report (complaint, suggestion, aspiration or question) from the complaint system (SP4N-LAPOR!)."
)
class Feedback:
    tracking_id: str = strawberry.field(description="The complaint system's tracking number, e.g. `TRK-2026-000123`.")
    kind: FeedbackKind | None = strawberry.field(description="Complaint, suggestion, aspiration or question.")
    category: FeedbackCategory | None = strawberry.field(description="Topic; null for one the vocabulary does not know yet.")
    title: str | None = strawberry.field(description="Title, as the reporter wrote it.")
    body: str | None = strawberry.field(description="The report's text, as the reporter wrote it.")
    location: str | None = strawberry.field(description="Where, in words (street or hamlet, RT/RW, desa, kecamatan).")
    channel: FeedbackChannel | None = strawberry.field(description="How the report came in.")
    status: FeedbackStatus | None = strawberry.field(description="Where the report is in its handling.")
    submitted_at: datetime | None = strawberry.field(description="When the report came in.")
    updated_at: datetime | None = strawberry.field(description="When its handling last changed.")
    anonymous: bool = strawberry.field(description="Whether the report was sent without a NIK (then `reporter` is null).")
    agency_code: strawberry.Private[str | None]
    region_code: strawberry.Private[str | None]
    reporter_nik: strawberry.Private[str | None]

    @property
    def data_subject(self) -> str | None:
        """The NIK of the person this object's data is about (read by the gateway's audit)."""

        return self.reporter_nik

    @classmethod
    def from_record(cls, r: Record) -> Feedback:
        return cls(
            tracking_id=r["trackingId"],
            kind=enum_or_none(FeedbackKind, r.get("kind")),
            category=enum_or_none(FeedbackCategory, r.get("category")),
            title=r.get("title"),
            body=r.get("body"),
            location=r.get("location"),
            channel=enum_or_none(FeedbackChannel, r.get("channel")),
            status=enum_or_none(FeedbackStatus, r.get("status")),
            submitted_at=r.get("submittedAt"),
            updated_at=r.get("updatedAt"),
            anonymous=not r.get("reporterNik"),
            agency_code=r.get("agency"),
            region_code=r.get("regionCode"),
            reporter_nik=r.get("reporterNik") or None,
        )

    @strawberry.field(description="The agency (OPD) the report is disposed to; null until it is dispatched.")
    async def agency(self, info: Info) -> Annotated[Agency, strawberry.lazy(".agency")] | None:
        from .agency import Agency

        if self.agency_code is None:
            return None
        record = await info.context.loaders.one("Agency", "code").load(self.agency_code)
        return Agency.from_record(record) if record else None

    @strawberry.field(description="The desa/kelurahan the report is about.")
    async def region(self, info: Info) -> Annotated[Region, strawberry.lazy(".region")] | None:
        from .region import Region

        return await Region.load(info, self.region_code)

    @strawberry.field(
        description=(
            "Who sent the report, from the civil registry by NIK; null for an anonymous report "
            "or a NIK the registry does not know."
        )
    )
    async def reporter(self, info: Info) -> Annotated[Person, strawberry.lazy(".person")] | None:
        from .person import Person

        return await Person.load(info, self.reporter_nik)


async def feedback_page(
    info: Info, scope: list[Filter], filter: FeedbackFilter | None, *, first: int | None, after: str | None
) -> Connection[Feedback]:
    """A page of reports within ``scope`` (a region's, an agency's) that meet ``filter``, by tracking number."""

    return await paginate(
        info.context.loaders.sources,
        "Feedback",
        "trackingId",
        [*scope, *await _conditions(info, filter or FeedbackFilter())],
        first=first,
        after=after,
        cursors=info.context.cursors,
        to_node=Feedback.from_record,
    )


async def _conditions(info: Info, f: FeedbackFilter) -> list[Filter]:
    chosen = (("status", f.status), ("kind", f.kind), ("category", f.category))
    where = [Filter(name, "eq", value.value) for name, value in chosen if value is not None]
    if f.region is not None:
        where.append(Filter("regionCode", "prefix", (f.region,)))
    if f.agency is not None:
        if await info.context.loaders.one("Agency", "code").load(f.agency) is None:
            raise InvalidInput(
                f"No agency has the code {f.agency!r}; the `agencies` field lists them.",
                argument="agency",
                reason="UNKNOWN_AGENCY",
            )
        where.append(Filter("agency", "eq", f.agency))
    if f.submitted_from is not None and f.submitted_to is not None and f.submitted_to < f.submitted_from:
        raise InvalidInput("`submittedTo` is before `submittedFrom`.", argument="submittedTo", reason="OUT_OF_RANGE")
    if f.submitted_from is not None:
        where.append(Filter("submittedAt", "gte", datetime.combine(f.submitted_from, time.min, WIB)))
    if f.submitted_to is not None:
        where.append(Filter("submittedAt", "lte", datetime.combine(f.submitted_to, time.max, WIB)))
    return where
