"""Small static tables as HTML, for pages where ``st.dataframe`` costs more than it gives.

``st.dataframe`` makes a first-time visitor's browser load and compile about 1.4 MB of data-grid
code (the grid, Arrow cell formatting, moment, numbro); on the chart page that happened while the
chart was rendering. A Markdown table avoids the code but costs the browser a Markdown parse of
every cell. A table of a few dozen rows reads as well as plain HTML, which ``st.html`` inserts
after sanitising (about 30 kB of code).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

# Colours that read on the light and the dark theme; numbers right-aligned like in st.dataframe. Cells may
# break anywhere (`overflow-wrap: anywhere` also lowers the cells' minimum width), so long detector
# parameters or run ids wrap inside the page's width instead of pushing the table off the page.
STYLE = """<style>
table.lupus-table { border-collapse: collapse; font-size: 0.875rem; width: 100%; max-width: 100%; }
table.lupus-table th, table.lupus-table td { border-bottom: 1px solid rgba(128, 128, 128, 0.25);
  padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
table.lupus-table th { font-weight: 600; opacity: 0.8; white-space: nowrap; overflow-wrap: normal; }
table.lupus-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.lupus-table .short { white-space: nowrap; overflow-wrap: normal; }
table.lupus-table span.badge { display: inline-block; padding: 0 0.45rem; border-radius: 0.6rem; color: white;
  font-size: 0.8rem; white-space: nowrap; }
</style>"""


def html_table(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    formats: Mapping[str, Callable[[float], str]] | None = None,
    links: Mapping[str, str] | None = None,
    badges: Mapping[str, Mapping[str, str]] | None = None,
    css_class: str = "",
    nowrap: Sequence[str] = (),
) -> str:
    """``frame`` as an HTML table (with :data:`STYLE`): times in UTC, without the time of day when every
    one is midnight; numbers through ``formats[column]`` when given, else floats to 6 significant digits;
    missing values as empty cells; all text escaped. ``links`` maps a column to the column holding its
    cells' link targets (app-relative or absolute URLs), which is not shown itself. ``badges`` maps a column to
    {value: colour}: those cells show their value as a coloured badge (and carry ``data-value``). ``css_class``
    is added to the table's classes (for tests and styles). ``nowrap`` columns keep each cell on one line (short
    values such as days, changes, statuses and links read badly broken mid-word).

    >>> frame = pd.DataFrame({"ts": pd.to_datetime(["2026-02-15"], utc=True), "score": [4.123456789],
    ...                       "params": ['{"k":"<b>"}'], "note": [None]})
    >>> print(html_table(frame).removeprefix(STYLE))
    <table class="lupus-table"><thead><tr><th>ts</th><th>score</th><th>params</th><th>note</th></tr></thead><tbody>
    <tr><td>2026-02-15</td><td class="num">4.12346</td><td>{&quot;k&quot;:&quot;&lt;b&gt;&quot;}</td><td></td></tr>
    </tbody></table>
    """
    links = links or {}
    columns = [c for c in (columns or frame.columns) if c not in set(links.values())]
    formats = formats or {}
    cells = [_column(frame[c], formats.get(c)) for c in columns]
    for index, column in enumerate(columns):
        if column in links:
            cells[index] = [
                f'<td><a href="{html.escape(str(url))}" target="_self">{html.escape(str(text))}</a></td>'
                if isinstance(url, str) and url
                else cell
                for cell, text, url in zip(cells[index], frame[column], frame[links[column]], strict=True)
            ]
    for index, column in enumerate(columns):
        if column in (badges or {}):
            colours = badges[column]
            cells[index] = [
                f'<td data-value="{html.escape(str(value))}"><span class="badge" style="background: '
                f'{colours[value]}">{html.escape(str(value))}</span></td>'
                if value in colours
                else cell
                for cell, value in zip(cells[index], frame[column], strict=True)
            ]
    for index, column in enumerate(columns):
        if column in nowrap:
            cells[index] = [_with_class(cell, "short") for cell in cells[index]]
    short = ' class="short"'
    head = "".join(f"<th{short if c in nowrap else ''}>{html.escape(str(c))}</th>" for c in columns)
    rows = ["<tr>" + "".join(row) + "</tr>" for row in zip(*cells, strict=True)]
    return (
        f'{STYLE}<table class="{" ".join(["lupus-table", css_class]).strip()}"><thead><tr>{head}</tr></thead><tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table>"
    )


def _with_class(cell: str, name: str) -> str:
    if cell.startswith('<td class="'):
        return cell.replace('<td class="', f'<td class="{name} ', 1)
    return cell.replace("<td", f'<td class="{name}"', 1)


def _column(values: pd.Series, fmt: Callable[[float], str] | None = None) -> list[str]:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        utc = pd.to_datetime(values, utc=True)
        present = utc.dropna()
        fmt = "%Y-%m-%d" if (present == present.dt.normalize()).all() else "%Y-%m-%d %H:%M:%S"
        return [f"<td>{'' if pd.isna(t) else t.strftime(fmt)}</td>" for t in utc]
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        if fmt is not None:
            return [f'<td class="num">{"" if pd.isna(v) else html.escape(fmt(float(v)))}</td>' for v in values]
        return [f'<td class="num">{_scalar(v)}</td>' for v in values]
    return [f"<td>{_scalar(v)}</td>" for v in values]


def _scalar(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))
