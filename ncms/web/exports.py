"""Lists taken out as files: CSV (UTF-8 with a BOM, so that Excel opens Chinese text right) and
Excel (.xlsx through XlsxWriter), the same rows either way.

Formula injection is neutralised (``ncms.spreadsheet.neutral``): a text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be taken for a formula by a
spreadsheet, so in CSV it is written with a single quote in front (``'=1+1``) and in Excel it is
written as a string cell (``write_string``, never parsed). Numbers (int, Decimal, float) stay numbers; dates are written as dates.

The file name is given twice in ``Content-Disposition``: an ASCII fallback and the real name
(RFC 5987 ``filename*=UTF-8''…``), so a Chinese name survives and no name can break the header.
"""
from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flask import Response, stream_with_context

from ncms.spreadsheet import neutral

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"


def csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return neutral(str(value))


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the UTF-8 one (RFC 5987/6266)."""
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", filename).strip() or "export"
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """The rows as a CSV download, streamed (``rows`` is read as the client reads the file)."""

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        buffer.write("\ufeff")
        writer.writerow([csv_text(h) for h in header])
        for n, row in enumerate(rows, 1):
            writer.writerow([csv_text(v) for v in row])
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(lines()), mimetype=CSV_TYPE)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def xlsx_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str = "Sheet1") -> bytes:
    """A workbook of one sheet: the header in bold, text as strings, numbers as numbers."""
    import xlsxwriter

    with tempfile.TemporaryDirectory(prefix="ncms-xlsx-") as tmp:
        output = io.BytesIO()
        # constant_memory: each row goes to a temporary file as written, not kept in memory
        book = xlsxwriter.Workbook(output, {"constant_memory": True, "tmpdir": tmp,
                                            "strings_to_formulas": False, "strings_to_urls": False})
        bold = book.add_format({"bold": True})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        money = book.add_format({"num_format": "#,##0.00"})
        ws = book.add_worksheet(sheet[:31])
        for col, name in enumerate(header):
            ws.write_string(0, col, str(name), bold)
        for r, row in enumerate(rows, 1):
            for col, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, bool):
                    ws.write_boolean(r, col, value)
                elif isinstance(value, Decimal):
                    ws.write_number(r, col, float(value), money)
                elif isinstance(value, (int, float)):
                    ws.write_number(r, col, value)
                elif isinstance(value, datetime):
                    ws.write_datetime(r, col, value.replace(tzinfo=None), moment)
                elif isinstance(value, date):
                    ws.write_datetime(r, col, datetime(value.year, value.month, value.day), day)
                else:
                    ws.write_string(r, col, str(value))
        ws.freeze_panes(1, 0)
        book.close()
        return output.getvalue()


def xlsx_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]],
                  sheet: str = "Sheet1") -> Response:
    """The rows as an Excel download (built whole, then sent: bound the rows before calling)."""
    response = Response(xlsx_bytes(header, rows, sheet), mimetype=XLSX_TYPE)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
