"""Households, members and their yearly enrolment, as each county registers them."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Money, TimestampMixin, enum_column
from .enums import Sex


class Household(TimestampMixin, Base):
    """Members enrol by household (户); the number is the county's own.

    Households, members and enrolments are written in bulk by the loader only, which
    resolves every reference by a join; like the claims they carry no foreign-key
    constraints (per-row checks took 15 % of a bulk load, docs/ingestion.md).
    """

    __tablename__ = "household"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    household_no: Mapped[str] = mapped_column(String(32))
    head_name: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    batch_id: Mapped[int | None]  # the batch that last wrote the row (no constraint: bookkeeping)

    members: Mapped[list["Member"]] = relationship(
        back_populates="household", primaryjoin="Household.id == foreign(Member.household_id)")

    __table_args__ = (UniqueConstraint("county_code", "household_no"),)


class Member(TimestampMixin, Base):
    """A person on a county's register (参合人员).

    Keyed by the county's member number, not by the national ID: the same person
    registered in two counties is two rows here, which is exactly what the
    duplicate-enrolment rule looks for. Sex and birth date are derived from the
    national ID when the row is loaded.
    """

    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    member_no: Mapped[str] = mapped_column(String(32))
    household_id: Mapped[int | None]
    national_id: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[Sex] = mapped_column(enum_column(Sex, "sex"))
    birth_date: Mapped[date]
    death_date: Mapped[date | None]
    batch_id: Mapped[int | None]  # the batch that last wrote the row (no constraint: bookkeeping)

    household: Mapped[Household | None] = relationship(
        back_populates="members", primaryjoin="foreign(Member.household_id) == Household.id")
    enrolments: Mapped[list["Enrolment"]] = relationship(
        back_populates="member", order_by="Enrolment.year",
        primaryjoin="Member.id == foreign(Enrolment.member_id)")

    __table_args__ = (
        UniqueConstraint("county_code", "member_no"),
        CheckConstraint("length(national_id) = 18", name="national_id_length"),
        CheckConstraint("death_date IS NULL OR death_date >= birth_date", name="death_after_birth"),
    )


class Enrolment(TimestampMixin, Base):
    """One member's enrolment (参合) for one calendar year, with the contribution paid.

    It carries the member's county and number as the county sent them, beside the member's
    id, so that a claim (which names its member by them) finds its enrolment in one lookup:
    ``ix_enrolment_member_year``, member number first, since comparing the county first
    compares six equal characters at every step of the search."""

    __tablename__ = "enrolment"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    county_code: Mapped[str] = mapped_column(String(6))
    member_no: Mapped[str] = mapped_column(String(32))
    year: Mapped[int]
    contribution: Mapped[Decimal] = mapped_column(Money())
    enrolled_on: Mapped[date | None]
    batch_id: Mapped[int | None]  # the batch that last wrote the row (no constraint: bookkeeping)

    member: Mapped[Member] = relationship(back_populates="enrolments",
                                          primaryjoin="foreign(Enrolment.member_id) == Member.id")

    __table_args__ = (
        UniqueConstraint("member_id", "year"),
        Index("ix_enrolment_member_year", "member_no", "county_code", "year", unique=True),
        CheckConstraint("year BETWEEN 2003 AND 2100", name="year_range"),
        CheckConstraint("contribution >= 0", name="contribution_positive"),
    )
