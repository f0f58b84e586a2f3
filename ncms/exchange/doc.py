"""The exchange-format documentation, rendered from the schemas so that it cannot drift.

Run ``python -m ncms.exchange.doc > docs/exchange-format.md``. Field tables, rules, codes
and messages come from ``schemas.py``, ``fields.py`` and ``messages.py``; the worked example
is written with ``write_package``, read back with ``Package`` and passed through ``screen()``,
so a page that shows an invalid example cannot be generated. ``tests/test_exchange_doc.py``
fails when the committed page differs from what this module renders.
"""
from __future__ import annotations

import re
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
from marshmallow import Schema, fields, validate

from ncms.ids import mask_national_id, national_id_check_character
from ncms.ingest.receipt import CSV_COLUMNS

from .messages import TEMPLATES
from .package import MANIFEST, Package, write_package
from .schemas import FORMAT_NAME, FORMAT_VERSION, LOAD_ORDER, RECORD_SCHEMAS, Manifest
from .screen import screen

COMMAND = "python -m ncms.exchange.doc > docs/exchange-format.md"

MANIFEST_MEANING = {
    "format": "the name of this format",
    "format_version": "the version of this format the package follows",
    "county_code": "GB/T 2260 code of the county that sends the package; it must be the sender's own county",
    "sequence": "the package's number: from 1, consecutive per county (each package of a county carries the next number)",
    "period": "the period the records cover",
    "period.start": "first day of the period",
    "period.end": "last day of the period; not before `start`",
    "encoding": "character encoding of every record file, CSV and XML alike",
    "created_at": "when the county system made the package",
    "files": "the record files, one entry each; every file of the ZIP except `manifest.json` is listed, once",
    "files[].name": "the file's name in the ZIP: a plain name, no folders",
    "files[].record_type": "what the file holds (see the record types below)",
    "files[].format": "`csv` or `xml`",
    "files[].rows": "number of records in the file: CSV records after the header, or XML record elements",
    "files[].sha256": "SHA-256 of the file as stored in the ZIP (the bytes sent, before any re-encoding), lowercase hex",
}

LOAD_CHECKS = {  # code -> the records it applies to
    "duplicate_key": "every record type",
    "unknown_institution": "claim",
    "unknown_member": "enrolment",
    "unknown_claim": "claim_item",
    "items_sum": "claim sent with items",
    "claim_rejected": "claim_item",
    "ragged_row": "every CSV file",
}

PACKAGE_REFUSALS = {
    "not_zip": "the file is not a readable ZIP archive",
    "unsafe_path": "a name in the ZIP is not a plain file name (folders, `..`, absolute paths, drive letters, backslashes)",
    "no_manifest": "the ZIP has no `manifest.json`",
    "bad_manifest": "`manifest.json` is not JSON or breaks the rules of the manifest above",
    "unexpected_file": "the ZIP holds a file that the manifest does not list",
    "missing_file": "the manifest lists a file that the ZIP does not hold",
    "checksum": "a file's SHA-256 is not the one in the manifest",
    "too_large": "the package, a file, all files together or the manifest is larger than the province accepts",
    "zip_bomb": "a file expands far more than real data does (more than 200:1)",
    "corrupt_zip": "a file in the ZIP cannot be decompressed: damaged data, a wrong size or CRC, or encryption",
    "unreadable_csv": "a CSV file has no header line or cannot be parsed as CSV",
    "bad_header": "a CSV file's header lacks a required field (names are matched after trimming spaces)",
    "unreadable_xml": "an XML file is not well-formed, or has a DTD or entity declarations (refused for safety)",
    "row_count": "a file holds a different number of records than the manifest's `rows`",
    "wrong_county": "the manifest's `county_code` is not the county whose account sent the package",
    "unknown_county": "the county is not configured in the province",
    "already_loaded": "the very same package (the same SHA-256) was loaded in full before, as the batch the "
                      "receipt names; it is not loaded again (see the receipt below)",
}

NOT_REJECTED = (
    "a claim of a member who is not enrolled for the year of care, or whose member number is not on the "
    "register (the claim keeps the member as the county sent it);",
    "a claim of a member who had died before the date of care;",
    "an item code the provincial catalogue does not know: the item is loaded and marked *unmapped*;",
    "prices above the provincial ceiling, unusual lengths of stay, repeated visits, "
    "and the same person enrolled in two counties.",
)

EXAMPLE_COUNTY = "520121"
EXAMPLE_PERIOD = (date(2024, 3, 1), date(2024, 3, 31))
EXAMPLE_TODAY = date(2024, 4, 2)


def render() -> str:
    """The whole page, as Markdown."""
    sections = [_introduction(), _manifest(), _load_order(), _record_types(), _load_checks(),
                _not_rejected(), _refusals(), _receipt(), _example()]
    return "\n".join(line for section in sections for line in section).rstrip("\n") + "\n"


def _introduction() -> list[str]:
    return [
        "# The NCMS exchange format",
        "",
        f"<!-- Generated from ncms/exchange/schemas.py: do not edit; run `{COMMAND}`. -->",
        "",
        f"Format `{FORMAT_NAME}`, version {FORMAT_VERSION}. Every county sends its data in this format, "
        "whether it uploads packages through the gateway or the province extracts from its database; "
        "every row is checked against the same rules, and every refused row comes back on the receipt.",
        "",
        f"A **package** is a ZIP file holding `{MANIFEST}` and the record files it lists, side by side "
        "(no folders). A record file is one of:",
        "",
        "- **CSV**, encoded in UTF-8 (a byte-order mark is allowed) or GB18030, as the manifest's "
        "`encoding` says. The first line is a header of field names; columns may come in any order, "
        "unknown columns are ignored and a missing optional column means no value. An empty value means "
        "*no value*. A value holding a comma, a double quote or a line break is quoted with double quotes, "
        "and a double quote inside it is doubled (RFC 4180). Lines may end in LF or CRLF.",
        "- **XML**, in the same encoding: one element per record under a root `<records type=\"...\">`, "
        "with child elements named like the fields (`<claim><claim_id>…</claim_id>…</claim>`). A missing "
        "or empty element means no value. DTDs and entity declarations are refused.",
        "",
        "Values are written plainly: dates as `YYYY-MM-DD`; money in yuan with at most 2 decimals and "
        "no thousands separators (`1234.50`, not `1,234.50`); booleans as `0` or `1`; digits are ASCII "
        "digits (full-width digits such as `１２` are refused); a national ID may end in a lowercase `x`.",
        "",
        "Spaces around a value are handled one way: in every field but free text (names, places, item "
        f"names: {_free_text()}) leading and trailing spaces, ASCII and full-width (U+3000, common in GBK "
        "exports), are trimmed before the value is checked, and the value is loaded trimmed: ` J18.9 ` is "
        "`J18.9`, a padded member number or item code is the same number or code as without the spaces, "
        "and a value of spaces alone is empty. Other white space (tabs, line breaks, non-breaking "
        "spaces) is not trimmed and makes a code or number invalid; around a national ID a tab is "
        "trimmed too. Free text is loaded as sent.",
        "",
    ]


def _free_text() -> str:
    names = sorted({f"`{name}`" for schema in RECORD_SCHEMAS.values()
                    for name, spec in schema.specs().items() if not spec.trimmed})
    return ", ".join(names)


def _manifest() -> list[str]:
    rows = list(_manifest_rows(Manifest()))
    described = {name for name, *_ in rows}
    if described != set(MANIFEST_MEANING):
        raise AssertionError(f"MANIFEST_MEANING does not match the Manifest schema: {sorted(described ^ set(MANIFEST_MEANING))}")
    lines = ["## The manifest", "",
             f"`{MANIFEST}` is a JSON object (UTF-8) that says what the package holds. Every statement in it "
             "is checked, and a package whose manifest is wrong is refused as a whole.", "",
             "| field | required | what is allowed | meaning |", "|---|---|---|---|"]
    for name, required, allowed in rows:
        lines.append(f"| `{name}` | {'yes' if required else 'no'} | {allowed} | {_cell(MANIFEST_MEANING[name])} |")
    return [*lines, ""]


def _manifest_rows(schema: Schema, prefix: str = "") -> Iterator[tuple[str, bool, str]]:
    for name, field in schema.fields.items():
        yield prefix + name, field.required, _cell(_field_words(field))
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            suffix = "[]." if isinstance(field, fields.List) else "."
            yield from _manifest_rows(inner.schema, prefix + name + suffix)


def _field_words(field: fields.Field) -> str:
    kind = {fields.Integer: "a whole number", fields.Date: "a date YYYY-MM-DD",
            fields.AwareDateTime: "an ISO 8601 date and time with its UTC offset, e.g. 2024-04-01T08:30:00+08:00",
            fields.String: "text", fields.Nested: "an object", fields.List: "a list of objects"}
    words = next(w for cls, w in kind.items() if isinstance(field, cls))
    for rule in field.validators:
        if isinstance(rule, validate.Equal):
            words = f"exactly `{rule.comparable}`"
        elif isinstance(rule, validate.OneOf):
            words = "one of " + ", ".join(f"`{c}`" for c in rule.choices)
        elif isinstance(rule, validate.Regexp):
            words += f" matching `{rule.regex.pattern}`"
        elif isinstance(rule, validate.Range):
            words += f" from {rule.min}" if rule.min is not None else ""
            words += f" up to {rule.max}" if rule.max is not None else ""
        elif isinstance(rule, validate.Length):
            words += f" ({rule.min} to {rule.max})"
    return words


def _load_order() -> list[str]:
    names = ", ".join(f"`{t}` ({RECORD_SCHEMAS[t].file_stem})" for t in LOAD_ORDER)
    return ["## Load order", "",
            f"The files of a package are loaded in this order, whatever their order in the manifest: {names}. "
            "So one package can hold members and their enrolments, or claims and their items; a record may "
            "also refer to one loaded from an earlier package of the same county.", ""]


def _record_types() -> list[str]:
    lines = ["## Record types", "",
             "Each record type has its own file, named after it (`members.csv`, `claims.xml`, …). In the "
             "tables, *required* means the value may not be empty. The key identifies a record within its "
             "county: it appears at most once in a file, and a record whose key was loaded before replaces "
             "it (a claim sent again with items has its items replaced).", ""]
    for number, record_type in enumerate(LOAD_ORDER, 1):
        schema = RECORD_SCHEMAS[record_type]
        key = ", ".join(f"`{k}`" for k in schema.key)
        lines += [f"### {number}. `{record_type}`: `{schema.file_stem}.csv` or `{schema.file_stem}.xml`", "",
                  _cell(" ".join((schema.__doc__ or "").split())), "", f"Key: {key}.", "",
                  "| field | required | what is allowed | description |", "|---|---|---|---|"]
        for name, spec in schema.specs().items():
            lines.append(f"| `{name}` | {'yes' if spec.required else 'no'} | {_cell(spec.allowed)} "
                         f"| {_cell(spec.description)} |")
        lines.append("")
        if schema.row_rules:
            lines += ["Checks across the fields of one record:", "", "| code | message |", "|---|---|"]
            lines += [f"| `{rule.code}` | {_template(rule.code)} |" for rule in schema.row_rules]
            lines.append("")
    return lines


def _load_checks() -> list[str]:
    lines = ["## Checks across records, at load time", "",
             "After each record has passed the checks above, the records of the package are checked "
             "together and against what was loaded before. A record that fails is not loaded; the others are.",
             "", "| code | applies to | message |", "|---|---|---|"]
    lines += [f"| `{code}` | {where} | {_template(code)} |" for code, where in LOAD_CHECKS.items()]
    field_codes = [c for c in TEMPLATES if c not in LOAD_CHECKS and not _is_row_rule(c)]
    lines += ["", "Codes of the field checks, as the receipt names them:", "", "| code | message |", "|---|---|"]
    lines += [f"| `{code}` | {_template(code)} |" for code in field_codes]
    return [*lines, ""]


def _is_row_rule(code: str) -> bool:
    return any(rule.code == code for schema in RECORD_SCHEMAS.values() for rule in schema.row_rules)


def _not_rejected() -> list[str]:
    return ["## What is not refused", "",
            "Data that is well-formed but suspicious is loaded: finding it is the job of the monitoring "
            "rules, which report to the auditors rather than refuse rows. For example:", "",
            *(f"- {item}" for item in NOT_REJECTED), ""]


def _refusals() -> list[str]:
    lines = ["## Packages refused as a whole", "",
             "A package that fails one of these checks is refused entirely: nothing of it is loaded, and "
             "the receipt gives the code and says what is wrong. Fix the package and send it again.", "",
             "| code | reason |", "|---|---|"]
    lines += [f"| `{code}` | {reason} |" for code, reason in PACKAGE_REFUSALS.items()]
    return [*lines, ""]


def _receipt() -> list[str]:
    columns = ", ".join(f"`{c}`" for c in CSV_COLUMNS)
    return ["## The receipt", "",
            "For every package the province writes a receipt to the county's outbox in the spool "
            "(`<county>/outbox`), where the county downloads it, named "
            "`receipt-<county>-<sequence>-batch<batch>.json` and `.csv`. `<sequence>` is the package's "
            "`sequence` as its sender wrote it (four digits), also when the package was refused, as long "
            "as its manifest could be read (`unnumbered` when it could not; `extract` for an extract "
            "from a county database). Every text on it is in Chinese and in English:", "",
            "- a JSON summary: `batch`, the package's `sequence`, `file`, `period` and `sha256`, its "
            "`status` (`loaded`, `partial` when some rows were refused, `rejected` when the package was "
            "refused as a whole, `failed` when the province could not load it, through no fault of the "
            "county's: it is loaded again from the archive), `rows` read, loaded and refused, and per "
            "`files`; for a package refused as a whole (or failed) `error_code` (the codes above), "
            "`error_zh` and `error_en` (the same reason in Chinese and in English; `error` repeats the "
            "English), and for `already_loaded` also `same_as_batch`, the batch that loaded it;",
            f"- a CSV of the refused rows (UTF-8 with a byte-order mark, so that spreadsheets open it), "
            f"with the columns {columns}: one line per problem, so a row with two wrong fields has two. "
            "An extract's receipt has one more column, `source_key`: the row's table in the county "
            "database and the columns and values of its key there, as the county's mapping names them "
            "(`XNH_JSXX.JSDH=2024000123`; a key of two columns `XNH_FYMX.JSDH=2024000123;MXXH=2`).", "",
            "`line` is the line of the record file where the record starts (the header is line 1) for CSV, "
            "and the record's position (from 1) for XML. Values are shown as sent (trimmed, for codes "
            "and numbers), so that claim, member and institution numbers can be looked up; only national "
            f"IDs are masked (`{mask_national_id(example_national_id())}`): the value of a national-ID "
            "field, and any value or text on the receipt that is a valid 18-character ID or a valid "
            "15-digit first-generation one. Long values are cut.", "",
            "**The same package twice.** A package whose bytes are those of a package of the same county "
            "that loaded in full (status `loaded`) is not loaded again: its receipt is `rejected` with "
            "code `already_loaded`, names the batch that loaded it, and nothing changes (loading it "
            "again would change nothing, or undo corrections sent since). To send the same records "
            "again, send them in a new package (its own `sequence`). A package that loaded only in part "
            "(`partial`), was refused or failed is loaded again when sent again: rows refused for a "
            "reference (an unknown member, say) may pass now, and the load is idempotent.", ""]


def _example() -> list[str]:
    manifest, files = example_package()
    lines = ["## A worked example", "",
             f"A package of county {EXAMPLE_COUNTY} with two claims, one outpatient visit and one inpatient "
             "stay, and their items. The national ID is synthetic. This example is written by "
             "`write_package` and checked by the province's own reader and screen when this page is "
             "generated, so it is valid.", "",
             f"`{MANIFEST}`:", "", "```json", manifest.rstrip("\n"), "```", ""]
    for name, text in files.items():
        lines += [f"`{name}`:", "", "```csv", text.rstrip("\n"), "```", ""]
    return lines


def example_national_id() -> str:
    body = f"{EXAMPLE_COUNTY}19580312041"  # synthetic
    return body + national_id_check_character(body)


def example_records() -> dict[str, pl.DataFrame]:
    """Two claims of one member, whose items add up to each claim's total."""
    claim = dict(member_no="5201210010203", national_id=example_national_id(), diagnosis_code=None,
                 discharge_date=None, referral="0", voided="0")
    claims = [
        claim | dict(claim_id="MZ202403150007", kind="outpatient", institution_code="520121200001",
                     admission_date="2024-03-15", settlement_date="2024-03-15", diagnosis_code="J06.9",
                     total_amount="36.50", eligible_amount="36.50", compensated_amount="18.25"),
        claim | dict(claim_id="ZY202403180012", kind="inpatient", institution_code="520121300001",
                     admission_date="2024-03-18", discharge_date="2024-03-22", settlement_date="2024-03-22",
                     diagnosis_code="J18.9", total_amount="1385.60", eligible_amount="1290.00",
                     compensated_amount="903.00", referral="1"),
    ]
    items = [
        ("MZ202403150007", "1", "86900134000015", "阿莫西林胶囊", "drug", "2", "8.50", "17.00"),
        ("MZ202403150007", "2", "250101001", "血细胞分析", "lab", "1", "19.50", "19.50"),
        ("ZY202403180012", "1", "110900001", "床位费", "bed", "4", "40.00", "160.00"),
        ("ZY202403180012", "2", "86900572000036", "头孢呋辛钠注射液", "drug", "12.5", "78.00", "975.00"),
        ("ZY202403180012", "3", "210102015", "胸部X线摄影", "exam", "1", "95.60", "95.60"),
        ("ZY202403180012", "4", "120400001", "静脉输液", "treatment", "5", "31.00", "155.00"),
    ]
    item_columns = ("claim_id", "line_no", "item_code", "item_name", "category", "quantity", "unit_price", "amount")
    return {
        "claim": pl.DataFrame(claims, schema={n: pl.String for n in RECORD_SCHEMAS["claim"].specs()}),
        "claim_item": pl.DataFrame(items, schema={n: pl.String for n in item_columns}, orient="row"),
    }


def example_package() -> tuple[str, dict[str, str]]:
    """The example's manifest and files as sent; raises if the province would refuse any row."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_package(Path(tmp) / "example.zip", county_code=EXAMPLE_COUNTY, sequence=7,
                             period=EXAMPLE_PERIOD, records=example_records(),
                             created_at="2024-04-01T08:30:00+08:00")
        package = Package(path, Path(tmp) / "work").open()
        for record_file in package.files:
            schema = RECORD_SCHEMAS[record_file.record_type]
            for chunk in package.chunks(record_file):
                result = screen(schema, chunk, today=EXAMPLE_TODAY, file=record_file.name)
                if result.problems or record_file.ragged:
                    raise AssertionError(f"the worked example is not valid: {result.problems or record_file.ragged}")
        with zipfile.ZipFile(path) as archive:
            manifest = archive.read(MANIFEST).decode("utf-8")
            files = {f.name: archive.read(f.name).decode("utf-8") for f in package.files}
    return manifest, files


def _template(code: str) -> str:
    return _cell(re.sub(r"\{(\w+)\}", r"*\1*", TEMPLATES[code][1]))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main() -> None:
    sys.stdout.buffer.write(render().encode("utf-8"))


if __name__ == "__main__":
    main()
