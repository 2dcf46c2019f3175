"""The two OPD databases' tables, as SQLAlchemy ``Table`` objects (one ``MetaData`` per database).

Column order here is the order of the tuples in :class:`demo.Dataset`.
"""

from __future__ import annotations

from sqlalchemy import CHAR, Column, Date, DateTime, Index, Integer, MetaData, String, Table

#: Dispendukcapil (SIAK-like civil registry).
registry_metadata = MetaData()

wilayah = Table(
    "wilayah",
    registry_metadata,
    Column("kode", String(13), primary_key=True),
    Column("nama", String(100), nullable=False),
    Column("tingkat", String(10), nullable=False),
    Column("kode_induk", String(13), nullable=True),
)

keluarga = Table(
    "keluarga",
    registry_metadata,
    Column("no_kk", CHAR(16), primary_key=True),
    Column("nik_kepala", CHAR(16), nullable=False),
    Column("alamat", String(200), nullable=False),
    Column("rt", CHAR(3), nullable=False),
    Column("rw", CHAR(3), nullable=False),
    Column("kode_wilayah", String(13), nullable=False),
    Column("tgl_terbit", Date, nullable=False),
    Column("tgl_update", DateTime, nullable=False),
    Index("ix_keluarga_kode_wilayah", "kode_wilayah"),
)

penduduk = Table(
    "penduduk",
    registry_metadata,
    Column("nik", CHAR(16), primary_key=True),
    Column("no_kk", CHAR(16), nullable=False),
    Column("nama_lengkap", String(100), nullable=False),
    Column("jenis_kelamin", CHAR(1), nullable=False),
    Column("tempat_lahir", String(60), nullable=False),
    Column("tanggal_lahir", Date, nullable=False),
    Column("agama", String(20), nullable=False),
    Column("status_perkawinan", String(20), nullable=False),
    Column("shdk", String(20), nullable=False),
    Column("pekerjaan", String(50), nullable=False),
    Column("kode_wilayah", String(13), nullable=False),
    Column("status_penduduk", String(10), nullable=False),
    Column("tgl_update", DateTime, nullable=False),
    Index("ix_penduduk_no_kk", "no_kk"),
    # Residents of a region are asked for by code prefix (LIKE '35.03.05%') and usually with a
    # status, then counted. PostgreSQL answers a prefix LIKE from a B-tree only under the "C"
    # collation or with pattern_ops (the demo databases are C.UTF-8); with the status beside the
    # code, a kecamatan's count is an index-only scan instead of a scan of the whole table.
    Index(
        "ix_penduduk_kode_wilayah",
        "kode_wilayah",
        "status_penduduk",
        postgresql_ops={"kode_wilayah": "varchar_pattern_ops"},
    ),
)

#: Dinas Pendidikan (Dapodik-like).
education_metadata = MetaData()

sekolah = Table(
    "sekolah",
    education_metadata,
    Column("npsn", CHAR(8), primary_key=True),
    Column("nama", String(120), nullable=False),
    Column("bentuk_pendidikan", String(5), nullable=False),
    Column("status_sekolah", String(10), nullable=False),
    # Dapodik writes the desa code without dots (3503082011), unlike the registry.
    Column("kode_wilayah", String(10), nullable=False),
    Column("alamat_jalan", String(200), nullable=False),
    Index("ix_sekolah_kode_wilayah", "kode_wilayah"),
)

peserta_didik = Table(
    "peserta_didik",
    education_metadata,
    Column("peserta_didik_id", CHAR(36), primary_key=True),
    Column("nisn", CHAR(10), nullable=False, unique=True),
    Column("nik", CHAR(16), nullable=True),
    Column("nama", String(100), nullable=False),
    Column("jenis_kelamin", CHAR(1), nullable=False),
    Column("tempat_lahir", String(60), nullable=False),
    Column("tanggal_lahir", Date, nullable=False),
    Column("npsn", CHAR(8), nullable=False),
    Column("tingkat_pendidikan", Integer, nullable=False),
    Column("nama_rombel", String(20), nullable=False),
    Column("tanggal_masuk_sekolah", Date, nullable=False),
    Index("ix_peserta_didik_nik", "nik"),
    Index("ix_peserta_didik_npsn", "npsn"),
)

kehadiran = Table(
    "kehadiran",
    education_metadata,
    Column("npsn", CHAR(8), primary_key=True),
    Column("tanggal", Date, primary_key=True),
    Column("nisn", CHAR(10), primary_key=True),
    Column("status", CHAR(1), nullable=False),
    # Not in the brief's list: a pupil's attendance is looked up by NISN, which the
    # (npsn, tanggal, nisn) primary key cannot serve.
    Index("ix_kehadiran_nisn", "nisn", "tanggal"),
    # SQLite would otherwise store every row twice: in the rowid table and in the key's index.
    sqlite_with_rowid=False,
)

REGISTRY_TABLES = (wilayah, keluarga, penduduk)
EDUCATION_TABLES = (sekolah, peserta_didik, kehadiran)
TABLES = {t.name: t for t in (*REGISTRY_TABLES, *EDUCATION_TABLES)}
