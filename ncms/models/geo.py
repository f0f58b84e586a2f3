"""The province's counties and the institutions where members are treated."""
from __future__ import annotations

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, TimestampMixin, enum_column
from .enums import DeploymentMode, InstitutionLevel


class County(TimestampMixin, Base):
    """A pooling unit: each county runs its own fund and compensation scheme."""

    __tablename__ = "county"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)  # GB/T 2260
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str | None] = mapped_column(String(64))
    prefecture_code: Mapped[str] = mapped_column(String(4), index=True)
    prefecture_name: Mapped[str | None] = mapped_column(String(64))
    mode: Mapped[DeploymentMode] = mapped_column(enum_column(DeploymentMode, "deployment_mode"))
    agricultural_population: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)

    schemes: Mapped[list["CompensationScheme"]] = relationship(  # noqa: F821
        back_populates="county", order_by="CompensationScheme.year"
    )

    __table_args__ = (
        CheckConstraint("length(code) = 6", name="code_length"),
        CheckConstraint("agricultural_population >= 0", name="population_positive"),
    )

    def __repr__(self) -> str:
        return f"<County {self.code} {self.name}>"


class Institution(TimestampMixin, Base):
    """A designated medical institution (定点医疗机构) registered in the province.

    ``area_code`` is where it sits, which need not be one of the province's counties
    (municipal, provincial and out-of-province hospitals).
    """

    __tablename__ = "institution"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    level: Mapped[InstitutionLevel] = mapped_column(
        enum_column(InstitutionLevel, "institution_level"), index=True
    )
    area_code: Mapped[str] = mapped_column(String(6), index=True)
    active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return f"<Institution {self.code} {self.level.value}>"
