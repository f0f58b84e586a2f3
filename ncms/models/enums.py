"""Code lists of the domain; the values are what the exchange format and the database carry."""
from __future__ import annotations

import enum


class DeploymentMode(str, enum.Enum):
    """How a county's data reaches the province (domain.md §6)."""

    ETL = "etl"  # centralised: the province extracts from the county's database
    GATEWAY = "gateway"  # distributed: the county uploads packages over SFTP


class InstitutionLevel(str, enum.Enum):
    VILLAGE = "village"
    TOWNSHIP = "township"
    COUNTY = "county"
    MUNICIPAL = "municipal"
    PROVINCIAL = "provincial"
    OUT_OF_PROVINCE = "out_of_province"


class ClaimKind(str, enum.Enum):
    OUTPATIENT = "outpatient"
    INPATIENT = "inpatient"


class ItemCategory(str, enum.Enum):
    DRUG = "drug"
    EXAM = "exam"
    LAB = "lab"
    TREATMENT = "treatment"
    MATERIAL = "material"
    BED = "bed"
    OTHER = "other"


class Sex(str, enum.Enum):
    MALE = "M"
    FEMALE = "F"


class FundingSource(str, enum.Enum):
    INDIVIDUAL = "individual"
    CENTRAL = "central"
    PROVINCIAL = "provincial"
    LOCAL = "local"
    OTHER = "other"


class RestrictionKind(str, enum.Enum):
    ITEM = "item"
    DIAGNOSIS = "diagnosis"


class BatchSource(str, enum.Enum):
    GATEWAY = "gateway"
    ETL = "etl"
    API = "api"


class BatchStatus(str, enum.Enum):
    RECEIVED = "received"
    LOADING = "loading"
    LOADED = "loaded"  # every row loaded
    PARTIAL = "partial"  # good rows loaded, some rejected
    REJECTED = "rejected"  # the package as a whole was refused (manifest, checksum, sender)
    FAILED = "failed"  # an error of ours; the batch can be replayed from its archive


class Severity(str, enum.Enum):
    VIOLATION = "violation"  # clear violation (明确违规)
    SUSPICIOUS = "suspicious"  # suspicious (可疑)


class FindingStatus(str, enum.Enum):
    OPEN = "open"
    SENT_TO_COUNTY = "sent_to_county"
    COUNTY_RESPONDED = "county_responded"
    CONFIRMED = "confirmed"  # determined a violation (认定): money to recover
    DISMISSED = "dismissed"
    CLOSED = "closed"  # no longer holds (data corrected or rule parameters changed)


class FindingEventKind(str, enum.Enum):
    """A step of a finding's life (``finding_event.kind``). The rules write raised, updated,
    closed and (when a closed finding holds again) reopened; people write the review loop's
    steps (docs/review.md): assigned, pushed (疑点推送), county_response (说明/申诉), sent_back
    (复核退回), determined (认定), recovered (追回), dismissed (排除), reopened, comment."""

    RAISED = "raised"
    UPDATED = "updated"
    STATUS = "status"
    COMMENT = "comment"
    COUNTY_RESPONSE = "county_response"
    CLOSED = "closed"
    REOPENED = "reopened"
    ASSIGNED = "assigned"
    PUSHED = "pushed"
    SENT_BACK = "sent_back"
    DETERMINED = "determined"
    RECOVERED = "recovered"
    DISMISSED = "dismissed"
    EXCEPTION = "exception"  # an exception for the rule and subject made (or revoked) from a decision


class AnswerKind(str, enum.Enum):
    """What the county says to a pushed finding."""

    EXPLANATION = "explanation"  # 情况说明: the facts
    APPEAL = "appeal"  # 申诉: the county disputes the finding


class ExceptionSubject(str, enum.Enum):
    """What a rule exception is about: findings of the rule on this subject are not raised."""

    INSTITUTION = "institution"  # an institution code
    ITEM = "item"  # an item code of the catalogue
    DIAGNOSIS = "diagnosis"  # an ICD-10 code (a prefix: "J18" covers J18.9)


class Role(str, enum.Enum):
    ADMIN = "admin"
    AUDITOR = "auditor"  # provincial auditor: every county
    COUNTY = "county"  # county NCMS office: its own county only
    MINISTRY = "ministry"  # ministry viewer: province statistics, no personal data


class ReportStatus(str, enum.Enum):
    RUNNING = "running"
    DONE = "done"
    PUBLISHED = "published"
    FAILED = "failed"
