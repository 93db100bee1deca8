"""A ranking opened for one region or unit (?region=, ?unit=) keeps it on every link, file and
form of the page. Over SQLite and PostgreSQL, on the demo district."""

from __future__ import annotations

import csv
import datetime as dt
import html as html_lib
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook

TZ = dt.timezone(dt.timedelta(hours=8))


def _last_month() -> str:
    first = dt.datetime.now(TZ).date().replace(day=1)
    day = first - dt.timedelta(days=1)
    return f"{day.year}-{day.month:02d}"


@pytest.mark.parametrize("narrow, name", [({"region": "R-T1"}, "城关街道"),
                                          ({"unit": "U-02"}, "东城街道便民服务中心")])
def test_the_files_print_tabs_and_period_form_keep_the_filter(dash, narrow, name):
    # The page of a region's 3 windows offered a CSV of the supervisor's 20, and its tabs,
    # period picker and print link went back to the whole scope.
    s = dash.login("jfb")
    month = _last_month()
    page = s.get(f"{dash.url}/dashboard/rankings",
                 params={"group": "window", "period": month, **narrow}).text
    shown = [k for k in re.findall(r'href="/dashboard/windows/([^"?]+)[^"]*"', page)]
    whole = s.get(f"{dash.url}/dashboard/api/rankings",
                  params={"group": "window", "period": month}).json()["rows"]
    assert 0 < len(shown) < len(whole)
    links = [html_lib.unescape(x) for x in re.findall(r'href="([^"]*\?group=[^"]*)"', page)]
    key, value = next(iter(narrow.items()))
    # the CSV, XLSX and print links, the four tabs (and the language switch)
    assert len([x for x in links if "lang=" not in x]) == 3 + 4
    for link in links:
        assert parse_qs(urlsplit(link).query).get(key) == [value], link
    start = page.index('<form class="filters"')
    form = page[start:page.index("</form>", start)]
    assert f'name="{key}" value="{value}"' in form
    csv_link = next(x for x in links if ".csv?" in x)
    table = list(csv.reader(io.StringIO(s.get(dash.url + csv_link).content
                                        .decode("utf-8-sig"))))
    assert [x[2] for x in table[1:]] == shown
    xlsx_link = next(x for x in links if ".xlsx?" in x)
    sheet = load_workbook(io.BytesIO(s.get(dash.url + xlsx_link).content)).active
    assert [r[2] for r in sheet.iter_rows(min_row=5, values_only=True)] == shown
    bulletin = s.get(dash.url + next(x for x in links if "print=1" in x)).text
    assert len(re.findall(r'class="rankno', bulletin)) == len(shown)
    assert f"范围：{name}" in re.sub(r"<[^>]+>", "", bulletin)
