"""Hostile and awkward input at the package level: every refusal has its code and says why.

Valid packages come from ``write_package``; each test then doctors one with ``zipfile`` (or
raw bytes) and checks that ``Package`` refuses it with the right ``PackageError.code``, or
reads it correctly, and that nothing is written outside the work directory.
"""
from __future__ import annotations

import hashlib
import json
import resource
import struct
import zipfile
import zlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ncms.exchange.package import MANIFEST, Limits, Package, PackageError, PackageWriter, write_package
from ncms.exchange.schemas import FinancingRecord, MemberRecord
from ncms.exchange.screen import LINE, screen
from tests.test_ids import make_id

COUNTY = "520121"
PERIOD = (date(2024, 3, 1), date(2024, 3, 31))
TODAY = date(2024, 4, 2)
NAMES = ["张三", "李四", "欧阳娜娜", "王五", "赵六", "钱七", "孙八", "周九", "吴十", "郑十一"]
MEMBER_HEADER = "member_no,household_no,national_id,name,relation,township,village,death_date"


def members(n: int = 3) -> pl.DataFrame:
    return pl.DataFrame({
        "member_no": [f"M{i}" for i in range(1, n + 1)], "household_no": ["H1"] * n,
        "national_id": [make_id(sequence=f"{i:03d}") for i in range(1, n + 1)], "name": NAMES[:n],
        "relation": ["head"] + ["child"] * (n - 1), "township": ["双流镇"] * n, "village": [None] * n,
        "death_date": [None] * n,
    })


def financing(n: int = 3) -> pl.DataFrame:
    return pl.DataFrame({"year": ["2024"] * n, "month": [str(m) for m in range(1, n + 1)],
                         "source": ["central"] * n, "amount": ["1000.00"] * n})


def member_csv(*lines: str, header: str = MEMBER_HEADER, newline: str = "\n") -> str:
    return newline.join([header, *lines]) + newline


def member_line(i: int, name: str | None = None) -> str:
    return f"M{i},H1,{make_id(sequence=f'{i:03d}')},{name or NAMES[i % len(NAMES)]},child,双流镇,,"


@pytest.fixture
def box(tmp_path: Path) -> "Box":
    return Box(tmp_path)


class Box:
    """Packages are made in ``in/``; the reader may write only under ``jail/work/``."""

    def __init__(self, root: Path) -> None:
        self.root, self.inbox, self.workdir = root, root / "in", root / "jail" / "work"
        self.inbox.mkdir()

    def package(self, name: str = "p.zip", **kwargs: Any) -> Path:
        kwargs.setdefault("records", {"member": members()})
        return write_package(self.inbox / name, county_code=COUNTY, sequence=1, period=PERIOD, **kwargs)

    def open(self, path: Path, limits: Limits = Limits()) -> Package:
        try:
            return Package(path, self.workdir, limits).open()
        finally:
            self.assert_jailed()

    def refused(self, path: Path, code: str, limits: Limits = Limits()) -> PackageError:
        with pytest.raises(PackageError) as caught:
            self.open(path, limits)
        assert caught.value.code == code, caught.value
        return caught.value

    def assert_jailed(self) -> None:
        written = [p for p in self.root.rglob("*") if p.is_file() and self.inbox not in p.parents]
        assert all(self.workdir in p.parents for p in written), written


def rebuild(src: Path, dst: Path, *, files: dict[str, bytes | None] | None = None,
            manifest: Callable[[dict[str, Any]], Any] | None = None, raw_manifest: bytes | None = None,
            fix_checksums: bool = True) -> Path:
    """Copy a package, replacing, adding or (with None) dropping members, and editing the manifest.

    Replaced files get their true SHA-256 in the manifest unless ``fix_checksums`` is false.
    """
    files = files or {}
    with zipfile.ZipFile(src) as archive:
        stored = {info.filename: archive.read(info) for info in archive.infolist()}
    data = json.loads(stored.pop(MANIFEST))
    for name, content in files.items():
        if content is None:
            stored.pop(name, None)
            continue
        stored[name] = content
        for entry in data["files"]:
            if entry["name"] == name and fix_checksums:
                entry["sha256"] = hashlib.sha256(content).hexdigest()
    if manifest:
        data = manifest(data) or data
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in stored.items():
            archive.writestr(name, content)
        archive.writestr(MANIFEST, raw_manifest if raw_manifest is not None else json.dumps(data))
    return dst


def all_rows(package: Package, index: int = 0) -> pl.DataFrame:
    chunks = list(package.chunks(package.files[index]))
    return pl.concat(chunks) if chunks else pl.DataFrame()


# --- a valid package, the baseline --------------------------------------------------------

def test_valid_package_opens_and_reads(box):
    package = box.open(box.package(records={"member": members(), "financing": financing()}))
    assert package.county_code == COUNTY
    assert [(f.name, f.record_type, f.rows) for f in package.files] == [
        ("members.csv", "member", 3), ("financing.csv", "financing", 3)]
    rows = all_rows(package)
    assert rows[LINE].to_list() == [2, 3, 4]
    assert rows["name"].to_list() == NAMES[:3]
    assert screen(MemberRecord, rows, today=TODAY, file="members.csv").problems == []


# --- names in the ZIP -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../evil.csv", "/etc/x", "a/../../b", "C:\\x", "C:x.csv", "sub\\evil.csv",
                                  "\\evil.csv", "sub/members.csv", ".."])
def test_unsafe_member_name_is_refused(box, name):
    path = rebuild(box.package(), box.inbox / "slip.zip", files={name: b"pwned\n"})
    error = box.refused(path, "unsafe_path")
    assert repr(name) in str(error) and "only plain file names" in str(error)
    assert not list(box.root.rglob("evil.csv")) and not list(box.root.rglob("b"))


def test_member_not_in_the_manifest_is_refused(box):
    error = box.refused(rebuild(box.package(), box.inbox / "x.zip", files={"extra.csv": b"a,b\n"}), "unexpected_file")
    assert "extra.csv" in str(error) and "not listed in the manifest" in str(error)


def test_listed_file_missing_is_refused(box):
    path = rebuild(box.package(records={"member": members(), "financing": financing()}), box.inbox / "x.zip",
                   files={"financing.csv": None})
    error = box.refused(path, "missing_file")
    assert "financing.csv" in str(error)


def test_manifest_lying_about_a_checksum_is_refused(box):
    content = member_csv(member_line(1)).encode()
    path = rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content}, fix_checksums=False)
    error = box.refused(path, "checksum")
    assert "members.csv" in str(error) and hashlib.sha256(content).hexdigest() in str(error)


def test_no_manifest_is_refused(box):
    path = box.inbox / "x.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("members.csv", member_csv(member_line(1)))
    assert "manifest.json" in str(box.refused(path, "no_manifest"))


@pytest.mark.parametrize("content", [b"member_no,name\nM1,x\n", b"", b"PK\x03\x04 truncated", b"\x00" * 100],
                         ids=["csv", "empty", "truncated-header", "zeros"])
def test_not_a_zip_is_refused(box, content):
    path = box.inbox / "x.zip"
    path.write_bytes(content)
    assert "not a readable ZIP" in str(box.refused(path, "not_zip"))


def test_truncated_zip_is_refused(box):
    path = box.package()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    box.refused(path, "not_zip")


# --- the manifest -----------------------------------------------------------------------



def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(manifest: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = manifest
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return edit


@pytest.mark.parametrize("edit", [
    pytest.param(_set("format_version", "2.0"), marks=(), id="format-version"),
    pytest.param(_set("format", "ncms"), marks=(), id="format"),
    pytest.param(_set("county_code", "52012"), marks=(), id="county-5-digits"),
    pytest.param(_set("county_code", "520122\n"), marks=(), id="county-trailing-newline"),
    pytest.param(_set("period.end", "2024-02-01"), marks=(), id="end-before-start"),
    pytest.param(_set("period.start", "2024-02-30"), marks=(), id="start-not-a-date"),
    pytest.param(_set("sequence", 0), marks=(), id="sequence-0"),
    pytest.param(_set("encoding", "GBK"), marks=(), id="encoding"),
    pytest.param(_set("files.0.sha256", "A" * 64), marks=(), id="sha256-upper-case"),
    pytest.param(_set("files.0.rows", -1), marks=(), id="rows-negative"),
    pytest.param(_set("files.0.record_type", "members"), marks=(), id="record-type"),
    pytest.param(_set("files", []), marks=(), id="no-files"),
    pytest.param(lambda m: m["files"].append(dict(m["files"][0])), marks=(), id="file-twice"),
    pytest.param(_set("county_code", KeyError), marks=(), id="county-missing"),
    pytest.param(lambda m: [m], marks=(), id="a-list"),
])
def test_manifest_with_a_bad_field_is_refused(box, edit):
    error = box.refused(rebuild(box.package(), box.inbox / "x.zip", manifest=edit), "bad_manifest")
    assert "manifest.json is not valid" in str(error) and "docs/exchange-format.md" in str(error)


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe{}", b""], ids=["not-json", "not-utf8", "empty"])
def test_manifest_that_is_not_json_is_refused(box, raw):
    error = box.refused(rebuild(box.package(), box.inbox / "x.zip", raw_manifest=raw), "bad_manifest")
    assert "manifest.json is not valid" in str(error)


def test_manifest_too_large_is_refused(box):
    path = rebuild(box.package(), box.inbox / "x.zip", manifest=lambda m: m | {"padding": " " * 5000})
    box.refused(path, "too_large", Limits(max_manifest_bytes=4096))


# --- sizes and bombs ----------------------------------------------------------------------

def test_zip_bomb_is_refused_before_extraction(box):
    """50 MB of zeros in a ZIP of about 50 kB, written and checked in small blocks."""
    path, digest, block = box.inbox / "bomb.zip", hashlib.sha256(), b"0" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("financing.csv", "w") as out:
            for _ in range(50):
                out.write(block)
                digest.update(block)
        archive.writestr(MANIFEST, json.dumps(dict(
            format="ncms-exchange", format_version="1.0", county_code=COUNTY, sequence=1,
            period=dict(start="2024-03-01", end="2024-03-31"), encoding="UTF-8",
            files=[dict(name="financing.csv", record_type="financing", format="csv", rows=1,
                        sha256=digest.hexdigest())])))
    assert path.stat().st_size < 200_000
    error = box.refused(path, "zip_bomb")
    assert "financing.csv" in str(error) and "200:1" in str(error)
    assert not any(box.workdir.glob("*")), "nothing is extracted from a bomb"


def _lying_header(box: Box, crc_of_prefix: bool) -> Path:
    """members.csv of about 1 MB whose ZIP headers declare 1000 bytes."""
    content = member_csv(*(member_line(i % 900 + 1) for i in range(20_000))).encode()
    path = rebuild(box.package(), box.inbox / "lying.zip", files={"members.csv": content})
    raw, declared = bytearray(path.read_bytes()), 1000
    name = b"members.csv"
    for signature, size_at, crc_at, name_at in ((b"PK\x01\x02", 24, 16, 46), (b"PK\x03\x04", 22, 14, 30)):
        start = 0
        while (start := raw.find(signature, start)) >= 0:
            if raw[start + name_at:start + name_at + len(name)] == name:
                struct.pack_into("<I", raw, start + size_at, declared)
                if crc_of_prefix:
                    struct.pack_into("<I", raw, start + crc_at, zlib.crc32(content[:declared]))
            start += 4
    path.write_bytes(raw)
    return path


def test_member_whose_header_declares_a_small_size_is_refused_with_consistent_crc(box):
    """zipfile stops at the declared size, so the reader never holds more: the checksum then fails."""
    error = box.refused(_lying_header(box, crc_of_prefix=True), "checksum")
    assert "members.csv" in str(error)
    assert all(p.stat().st_size <= 2000 for p in box.workdir.glob("*"))




def test_member_whose_header_declares_a_small_size_is_refused(box):
    box.refused(_lying_header(box, crc_of_prefix=False), "corrupt_zip")


@pytest.mark.parametrize("damage", ["corrupt", "encrypted"])
def test_damaged_member_is_refused_as_a_package_error(box, damage):
    content = member_csv(*(member_line(i % 900 + 1) for i in range(2000))).encode()
    path = rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content})
    raw = bytearray(path.read_bytes())
    local = raw.find(b"PK\x03\x04")
    data_at = local + 30 + struct.unpack_from("<H", raw, local + 26)[0] + struct.unpack_from("<H", raw, local + 28)[0]
    if damage == "corrupt":
        raw[data_at + 100:data_at + 140] = b"\xff" * 40
    else:  # set the "encrypted" flag in both headers
        central = raw.find(b"PK\x01\x02")
        raw[local + 6] |= 1
        raw[central + 8] |= 1
    path.write_bytes(raw)
    with pytest.raises(PackageError):
        box.open(path)


@pytest.mark.parametrize(("limit", "what"), [
    ("max_package_bytes", "package is larger"), ("max_file_bytes", "members.csv"), ("max_total_bytes", "financing.csv")])
def test_too_large_is_refused(box, limit, what):
    path = box.package(records={"member": members(), "financing": financing()})
    with zipfile.ZipFile(path) as archive:
        first = archive.getinfo("members.csv").file_size
    size = {"max_package_bytes": 100, "max_file_bytes": first - 1, "max_total_bytes": first + 1}[limit]
    assert what in str(box.refused(path, "too_large", Limits(**{limit: size})))


# --- XML -------------------------------------------------------------------------------------

def _xml_package(box: Box, document: bytes) -> Package:
    path = box.package(records={"financing": financing(1)}, fmt="xml")
    return box.open(rebuild(path, box.inbox / "x.zip", files={"financing.xml": document}))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE records [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<records type="financing"><financing><year>&lol9;</year><month>1</month></financing></records>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE records [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<records type="financing"><financing><year>&x;</year><month>1</month><source>central</source>
<amount>1.00</amount></financing></records>
"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY,
                                      b'<?xml version="1.0"?>\n<!DOCTYPE records SYSTEM "http://example.invalid/x.dtd">'
                                      b'<records type="financing"/>',
                                      b"<records type=\"financing\"><financing><year>2024</financing></records>"],
                         ids=["billion-laughs", "external-entity", "external-dtd", "not-well-formed"])
def test_dangerous_or_broken_xml_is_refused(box, document):
    package = _xml_package(box, document)
    with pytest.raises(PackageError) as caught:
        all_rows(package)
    assert caught.value.code == "unreadable_xml"
    assert "financing.xml" in str(caught.value)
    passwd = Path("/etc/passwd").read_text().splitlines()[:1] if Path("/etc/passwd").exists() else []
    for line in passwd:
        assert line not in str(caught.value)
        assert all(line not in p.read_text(errors="replace") for p in box.workdir.glob("*"))


def test_xml_is_read_with_record_numbers_as_lines(box):
    package = box.open(box.package(records={"member": members(3)}, fmt="xml", encoding="GB18030"))
    rows = all_rows(package)
    assert rows[LINE].to_list() == [1, 2, 3]
    assert rows["name"].to_list() == NAMES[:3]
    assert rows["village"].to_list() == [None] * 3
    assert screen(MemberRecord, rows, today=TODAY, file="members.xml").problems == []


# --- encodings -----------------------------------------------------------------------------

def test_gb18030_package_round_trips_chinese_names(box):
    frame = members(10)
    package = box.open(box.package(records={"member": frame}, encoding="GB18030"))
    rows = all_rows(package)
    assert rows["name"].to_list() == NAMES[:10]
    assert rows["township"].to_list() == ["双流镇"] * 10
    assert screen(MemberRecord, rows, today=TODAY, file="members.csv").problems == []


def test_gb18030_bytes_in_a_utf8_file_spoil_only_their_line(box):
    content = (member_csv(member_line(1, "张三")).encode("utf-8")
               + (member_line(2, "李四") + "\n").encode("gb18030")
               + (member_line(3, "王五") + "\n").encode("utf-8"))
    package = box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content}))
    rows = all_rows(package)
    assert rows[LINE].to_list() == [2, 3, 4]
    names = rows["name"].to_list()
    assert names[0] == "张三" and names[2] == "王五" and "\ufffd" in names[1]
    assert rows["township"].to_list()[0] == "双流镇" and "\ufffd" in rows["township"].to_list()[1]
    result = screen(MemberRecord, rows, today=TODAY, file="members.csv")
    assert result.good[LINE].to_list() == [2, 4]
    assert {(p.line, p.code) for p in result.problems} == {(3, "bad_encoding")}
    assert {p.field for p in result.problems} == {"name", "township"}


def test_utf8_bom_is_not_part_of_the_first_column(box):
    content = b"\xef\xbb\xbf" + member_csv(member_line(1), member_line(2)).encode()
    rows = all_rows(box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content})))
    assert rows.columns[:2] == [LINE, "member_no"]
    assert rows["member_no"].to_list() == ["M1", "M2"]


# --- CSV shapes ---------------------------------------------------------------------------------

def test_ragged_rows_are_set_aside_with_their_lines(box):
    content = member_csv(member_line(1), "M2,H1", member_line(3), member_line(4) + ",extra,fields",
                         member_line(5)).encode()
    package = box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content}))
    rows = all_rows(package)
    assert rows[LINE].to_list() == [2, 4, 6]
    assert rows["member_no"].to_list() == ["M1", "M3", "M5"]
    ragged = package.files[0].ragged
    assert [(r.line, r.expected, r.actual) for r in ragged] == [(3, 8, 2), (5, 8, 10)]
    assert ragged[0].text == "M2,H1" and ragged[0].file == "members.csv"


def test_quoted_newline_and_comma_keep_later_line_numbers(box):
    content = member_csv(member_line(1), 'M2,H1,{},"欧阳,\n娜娜",child,"双流镇\n\n二组",,'.format(make_id(sequence="002")),
                         member_line(3), '"M4",H1,{},"say ""hi""",,,,'.format(make_id(sequence="004"))).encode()
    package = box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content}))
    rows = all_rows(package)
    assert rows[LINE].to_list() == [2, 3, 7, 8]
    assert rows["name"].to_list()[1] == "欧阳,\n娜娜"
    assert rows["township"].to_list()[1] == "双流镇\n\n二组"
    assert rows["name"].to_list()[3] == 'say "hi"'
    assert package.files[0].ragged == []


def test_a_stray_quote_inside_a_value_spoils_no_other_row(box):
    content = member_csv(member_line(1), member_line(2, 'O"Brien'), member_line(3), member_line(4)).encode()
    package = box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content}))
    rows = all_rows(package)
    assert package.files[0].ragged == []
    assert rows[LINE].to_list() == [2, 3, 4, 5]


@pytest.mark.parametrize("where", ["end", "middle"])
def test_blank_lines_are_not_records(box, where):
    lines = [member_line(1), member_line(2)]
    text = member_csv(*lines) + "\n" if where == "end" else member_csv(lines[0], "", lines[1])
    package = box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": text.encode()}))
    rows = all_rows(package)
    assert rows["member_no"].to_list() == ["M1", "M2"]
    assert package.files[0].ragged == []


def test_header_with_spaces_after_commas(box):
    header = ", ".join(MEMBER_HEADER.split(","))
    content = member_csv(member_line(1), header=header).encode()
    rows = all_rows(box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content})))
    assert rows.columns == [LINE, *MEMBER_HEADER.split(",")]


def test_crlf_line_endings(box):
    content = member_csv(member_line(1), member_line(2), 'M3,H1,{},"two\r\nlines",,,,'.format(make_id(sequence="003")),
                         member_line(4), newline="\r\n").encode()
    rows = all_rows(box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content})))
    assert rows[LINE].to_list() == [2, 3, 4, 6]
    assert rows["death_date"].to_list() == [None] * 4, "no stray carriage return in the last column"
    assert rows["name"].to_list()[2] == "two\r\nlines"
    assert screen(MemberRecord, rows, today=TODAY, file="members.csv").good.height == 4


def test_csv_without_the_optional_columns(box):
    header = "member_no,household_no,national_id,name"
    content = member_csv(*(f"M{i},H1,{make_id(sequence=f'{i:03d}')},{NAMES[i]}" for i in range(1, 4)),
                         header=header).encode()
    rows = all_rows(box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content})))
    assert rows.columns == [LINE, *header.split(",")]
    result = screen(MemberRecord, rows, today=TODAY, file="members.csv")
    assert result.problems == [] and result.good.height == 3
    assert result.good["relation"].to_list() == [None] * 3


def test_empty_values_are_no_value(box):
    content = member_csv("M1,H1,,张三,,,,", '"M2","H1","","李四","","","",""').encode()
    rows = all_rows(box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content})))
    assert rows["national_id"].to_list() == [None, None]
    result = screen(MemberRecord, rows, today=TODAY, file="members.csv")
    assert {(p.line, p.field, p.code) for p in result.problems} == {(2, "national_id", "required"),
                                                                     (3, "national_id", "required")}


def test_csv_without_a_header_line_is_refused(box):
    package = box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": b""}))
    with pytest.raises(PackageError) as caught:
        all_rows(package)
    assert caught.value.code == "unreadable_csv" and "no header" in str(caught.value)


def test_a_10_mb_field_is_read_then_refused_as_too_long(box):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    big = "长" * ((10 << 20) // 3)  # 10 MB of UTF-8
    content = member_csv(member_line(1), member_line(2, big), member_line(3)).encode()
    path = box.package()  # then store the big file uncompressed, as real (incompressible) data would be
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read(MANIFEST))
    manifest["files"][0]["sha256"] = hashlib.sha256(content).hexdigest()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("members.csv", content)
        archive.writestr(MANIFEST, json.dumps(manifest))
    rows = all_rows(box.open(path))
    assert rows[LINE].to_list() == [2, 3, 4]
    result = screen(MemberRecord, rows, today=TODAY, file="members.csv")
    assert result.good[LINE].to_list() == [2, 4]
    (problem,) = result.problems
    assert (problem.line, problem.field, problem.code) == (3, "name", "too_long")
    assert len(problem.messages[1]) < 200
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 400, f"peak memory grew by {grown_mib:.0f} MiB for a 10 MB field"


def test_chunks_cover_every_row_once_with_its_line(box):
    package = box.open(box.package(records={"financing": financing(10)}), Limits(chunk_rows=3))
    chunks = list(package.chunks(package.files[0]))
    assert all(chunk.height >= 1 for chunk in chunks)
    lines = [line for chunk in chunks for line in chunk[LINE].to_list()]
    assert lines == list(range(2, 12))
    assert package.files[0].rows_read == 10
    assert sum(screen(FinancingRecord, c, today=TODAY, file="financing.csv").good.height for c in chunks) == 10


def test_xml_chunks_respect_chunk_rows(box):
    package = box.open(box.package(records={"financing": financing(10)}, fmt="xml"), Limits(chunk_rows=3))
    chunks = list(package.chunks(package.files[0]))
    assert [c.height for c in chunks] == [3, 3, 3, 1]
    assert [line for c in chunks for line in c[LINE].to_list()] == list(range(1, 11))


def test_working_copies_stay_in_the_workdir(box):
    package = box.open(box.package(records={"member": members(), "financing": financing()}))
    assert [f.path.parent for f in package.files] == [box.workdir, box.workdir]
    # plain CSVs are copied as they are: their line numbers follow from the row numbers
    assert [f.numbered for f in package.files] == [False, False]
    assert all(f.path.read_text(encoding="utf-8").startswith(MEMBER_HEADER[:9]) or f.record_type == "financing"
               for f in package.files)


@pytest.mark.parametrize("spoiler, numbered", [
    (None, False),                                    # plain: copied as it is
    ('M0,H1,{},"Li, Ming",child,,,', True),           # a quote
    ("M0,H1", True),                                  # a ragged row
    ("", True),                                       # a blank line
])
def test_line_numbers_are_the_same_whether_or_not_a_file_is_plain(box, spoiler, numbered):
    """A plain CSV (no quote, no blank line, no ragged row) is not tagged with line
    numbers; anything else is, in a second pass. Past the first megabyte (one read block),
    both give every record its line."""
    count = 40_000  # over 2 MiB: several read blocks, and the spoiler in the last one
    nid = make_id(sequence="001")
    lines = [f"M{i},H1,{nid},{NAMES[i % len(NAMES)]},child,双流镇,," for i in range(1, count + 1)]
    if spoiler is not None:
        lines.insert(count - 2, spoiler.format(make_id(sequence="000")))
    content = member_csv(*lines).encode()
    assert len(content) > 2 * (1 << 20)
    package = box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content}),
                       Limits(chunk_rows=7_000))
    rows = all_rows(package)
    assert package.files[0].numbered is numbered
    expected = [n + 2 for n in range(count + (spoiler is not None))]
    if spoiler in ("M0,H1", ""):  # set aside, or no record at all
        del expected[count - 2]
    assert rows[LINE].to_list() == expected
    assert rows["member_no"].to_list()[-1] == f"M{count}"


def test_a_lone_carriage_return_makes_a_file_not_plain(box):
    content = member_csv(member_line(1), member_line(2, "张\r三"), member_line(3)).encode()
    package = box.open(rebuild(box.package(), box.inbox / "x.zip", files={"members.csv": content}))
    assert package.files[0].numbered is True


@pytest.mark.parametrize("fmt", ["csv", "xml"])
def test_a_package_written_in_chunks_reads_as_the_whole(tmp_path, fmt) -> None:  # type: ignore[no-untyped-def]
    rows = [{"year": "2011", "month": str(m), "source": "central", "amount": f"{m}00.00"} for m in range(1, 13)]
    whole = pl.DataFrame(rows)
    with PackageWriter(tmp_path / "work", fmt=fmt, encoding="GB18030") as writer:
        for start in range(0, 12, 5):  # chunks of 5, 5, 2
            writer.add("financing", whole.slice(start, 5))
        writer.add("member", pl.DataFrame(schema={n: pl.String for n in MemberRecord().fields}))  # no rows
        path = writer.finish(tmp_path / "p.zip", county_code="520122", sequence=3,
                             period=(date(2011, 1, 1), date(2011, 12, 31)))
    assert list((tmp_path / "work").iterdir()) == []  # the working files are gone
    package = Package(path, tmp_path / "open").open()
    by_type = {f.record_type: f for f in package.files}
    assert by_type["financing"].rows == 12 and by_type["member"].rows == 0
    read = pl.concat(list(package.chunks(by_type["financing"]))).drop(LINE)
    assert read.select(whole.columns).to_dicts() == whole.to_dicts()
