"""The domain model. Import from here: ``from ncms.models import Claim``."""
from .auth import ApiToken, AuditLog, SignInAttempt, SignInOutcome, TokenScope, User
from .base import Base, Money, Quantity, Ratio, to_money
from .catalogue import CatalogueItem, Restriction
from .claims import Claim, ClaimItem
from .enums import (
    AnswerKind,
    ExceptionSubject,
    BatchSource,
    BatchStatus,
    ClaimKind,
    DeploymentMode,
    FindingEventKind,
    FindingStatus,
    FundingSource,
    InstitutionLevel,
    ItemCategory,
    ReportStatus,
    RestrictionKind,
    Role,
    Severity,
    Sex,
)
from .etl import ExtractedRow
from .features import InstitutionMonth, MemberYear
from .fund import CompensationScheme, FundFinancing, SchemeLevel
from .geo import County, Institution
from .ingest import Batch, RejectedRow, Watermark
from .people import Enrolment, Household, Member
from .report import ReportRun
from .review import (
    Finding,
    FindingAttachment,
    FindingEvent,
    MonitorScope,
    MonitorScopeClaim,
    RuleException,
    RuleRun,
    SavedFilter,
)
from .summary import CountyMonth, CountyYear, FindingMonth

__all__ = [name for name in dir() if not name.startswith("_")]
