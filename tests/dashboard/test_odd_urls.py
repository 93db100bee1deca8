"""Odd values in dashboard URLs get the 400/404 error page, never a 500 (found by probing)."""

from __future__ import annotations

import pytest

from tests.dashboard.helpers import csrf_of


@pytest.mark.parametrize("path", [
    "/dashboard/?period=0000-01", "/dashboard/?period=0001-01", "/dashboard/?period=9999-12",
    "/dashboard/rankings?period=9999-Q4", "/dashboard/rankings.csv?period=0001-01",
    "/dashboard/windows/W-001?period=0001-01", "/dashboard/assessment?period=9999-12",
])
def test_a_period_outside_the_years_of_dates_is_a_400_page(dash, path):
    s = dash.login("admin")
    r = s.get(dash.url + path)
    assert r.status_code == 400, (path, r.status_code)
    assert "period" in r.text and "<html" in r.text.lower()


def test_huge_numbers_in_case_urls_are_404_or_400_pages(dash):
    s = dash.login("admin")
    huge = "9" * 25
    assert s.get(f"{dash.url}/dashboard/cases?page={huge}").status_code == 200
    for path in (f"/dashboard/cases/{huge}", f"/dashboard/api/cases/{huge}"):
        assert s.get(dash.url + path).status_code == 400, path
    case = dash.case_id("U-01")
    url = f"{dash.url}/dashboard/cases/{case}"
    for assignee in (huge, "²"):
        r = s.post(f"{url}/assign", data={"assignee": assignee, "csrf": csrf_of(s, url)})
        assert r.status_code == 400, (assignee, r.status_code)
    r = s.post(f"{dash.url}/dashboard/pledges/items/{huge}",
               data={"status": "done", "csrf": csrf_of(s, url)})
    assert r.status_code == 400
