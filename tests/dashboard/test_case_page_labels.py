"""The case page's fact list names each fact for what it is."""

from __future__ import annotations

import html
import re

from tests.dashboard.helpers import case_action


def test_the_last_actions_note_is_labelled_as_such_not_as_the_ratings(dash):
    # Under the rating's level, reasons and comment it read "说明: 已致电群众…", as if the
    # citizen had written it; it is the note of the case's latest action.
    case_id = dash.case_id("U-01", skip=15)
    manager = dash.login("u01")
    assert case_action(manager, dash, case_id, "verify", "已调取录像核实").status_code == 303
    page = manager.get(f"{dash.url}/dashboard/cases/{case_id}").text
    facts = re.search(r'<dl class="facts">(.*?)</dl>', page, re.S)[1]
    found = re.search(r"<dt>([^<]*)</dt><dd data-last-action-note>([^<]*)</dd>", facts)
    assert found and html.unescape(found[1]) == "最近处理说明"
    assert found[2] == "已调取录像核实"
    assert "<dt>说明</dt>" not in facts
