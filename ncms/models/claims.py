"""Claims (补偿单) and their line items, as the counties paid them."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Money, Quantity, TimestampMixin, enum_column
from .enums import ClaimKind, ItemCategory


class Claim(TimestampMixin, Base):
    """One outpatient visit or inpatient stay of one member at one institution.

    The member is referenced as the county sent it (member number and national ID),
    not by a foreign key: a claim for someone missing from the register is suspicious,
    not malformed, and must be loaded so the rules can find it.

    Claims and their items are the fact tables: hundreds of millions of rows, written
    only by the ingest path, which inserts nothing whose references it has not joined.
    They carry no foreign-key constraints (per-row checks took 40 % of a bulk load) and
    only the indexes a measured query needs.
    """

    __tablename__ = "claim"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    source_id: Mapped[str] = mapped_column(String(64))  # the county system's claim id
    kind: Mapped[ClaimKind] = mapped_column(enum_column(ClaimKind, "claim_kind"))
    member_no: Mapped[str] = mapped_column(String(32))
    national_id: Mapped[str] = mapped_column(String(18))
    institution_id: Mapped[int]
    admission_date: Mapped[date]  # the visit date for outpatient claims
    discharge_date: Mapped[date | None]
    settlement_date: Mapped[date]
    diagnosis_code: Mapped[str] = mapped_column(String(16))  # ICD-10 main diagnosis
    total_amount: Mapped[Decimal] = mapped_column(Money())
    eligible_amount: Mapped[Decimal] = mapped_column(Money())
    compensated_amount: Mapped[Decimal] = mapped_column(Money())
    referral: Mapped[bool] = mapped_column(default=False)
    voided: Mapped[bool] = mapped_column(default=False)
    batch_id: Mapped[int | None]  # the batch that last wrote the row (no constraint: bookkeeping)

    institution: Mapped["Institution"] = relationship(  # noqa: F821
        primaryjoin="foreign(Claim.institution_id) == Institution.id")
    items: Mapped[list["ClaimItem"]] = relationship(
        back_populates="claim", cascade="all, delete-orphan", order_by="ClaimItem.line_no",
        primaryjoin="Claim.id == foreign(ClaimItem.claim_id)"
    )

    __table_args__ = (
        UniqueConstraint("county_code", "source_id"),
        # the pages' lookups (docs/web.md): a member's claims, an institution's claims of a period
        Index("ix_claim_member", "member_no", postgresql_using="hash"),  # equality only (migration 0022)
        Index("ix_claim_institution_admission", "institution_id", "admission_date"),
        # the API's list of a county's claims, newest first (migration 0021)
        Index("ix_claim_county_id", "county_code", "id"),
        CheckConstraint("total_amount >= 0", name="total_positive"),
        CheckConstraint("eligible_amount >= 0 AND eligible_amount <= total_amount", name="eligible_le_total"),
        CheckConstraint("compensated_amount >= 0", name="compensated_positive"),
        CheckConstraint(
            "discharge_date IS NULL OR admission_date <= discharge_date", name="admission_le_discharge"
        ),
        CheckConstraint(
            "settlement_date >= coalesce(discharge_date, admission_date)", name="settled_after_care"
        ),
    )

    @property
    def length_of_stay(self) -> int | None:
        if self.kind != ClaimKind.INPATIENT or self.discharge_date is None:
            return None
        return max(1, (self.discharge_date - self.admission_date).days)


class ClaimItem(Base):
    """A line of a claim's cost detail (费用明细).

    ``unmapped`` marks an item code the provincial catalogue does not know: it is
    loaded anyway (the county has paid it) and left for the rules to judge.
    """

    __tablename__ = "claim_item"

    claim_id: Mapped[int] = mapped_column(primary_key=True)
    line_no: Mapped[int] = mapped_column(primary_key=True)
    item_code: Mapped[str] = mapped_column(String(32))
    item_name: Mapped[str | None] = mapped_column(String(128))
    category: Mapped[ItemCategory] = mapped_column(enum_column(ItemCategory, "item_category"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price: Mapped[Decimal] = mapped_column(Money())
    amount: Mapped[Decimal] = mapped_column(Money())
    unmapped: Mapped[bool] = mapped_column(default=False)

    claim: Mapped[Claim] = relationship(back_populates="items",
                                        primaryjoin="foreign(ClaimItem.claim_id) == Claim.id")

    __table_args__ = (CheckConstraint("line_no > 0", name="line_no_positive"),)
