"""The case workflow's refusals in the page's language: the ones that still said only the
server's English sentence under a Chinese heading (an action unknown or above the role, an
assignee out of scope, a callback's result, a viewer's post, a rating changed meanwhile)."""

from __future__ import annotations

import re

import pytest

from aggregator import ratings as rating_store
from aggregator.dashboard import cases
from aggregator.dashboard.i18n import translator
from aggregator.dashboard.i18n_problems import problem_text
from aggregator.errors import Conflict
from tests.dashboard.helpers import case_action, post_form, refusal_line

ENGLISH = re.compile(r"\b(must|cannot|needs?|role|this|user|result|unknown|viewers?|got)\b",
                     re.I)


def _zh(r, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[-600:])
    line = refusal_line(r)
    assert not ENGLISH.search(line), line
    return line


def test_case_refusals_read_in_chinese(dash):
    case_id = dash.case_id("U-01", skip=7)
    page = f"/dashboard/cases/{case_id}"
    manager, viewer = dash.login("u01"), dash.login("viewer")
    assert _zh(case_action(viewer, dash, case_id, "verify"), 403) == "只读账号不能办理工单"
    assert _zh(case_action(manager, dash, case_id, "accept_appeal"), 403) == \
        "「申诉成立（作废）」须由上级监管人员（纠风办、政务服务管理办）操作，单位不能自行认定"
    assert _zh(case_action(manager, dash, case_id, "delete"), 400) == \
        "没有「delete」这一操作，请刷新页面后重试"
    assert _zh(post_form(manager, dash, f"{page}/assign", page, assignee="abc"), 400) == \
        "没有这个账号（现为「abc」），请在列表中选择承办人"
    line = _zh(post_form(manager, dash, f"{page}/assign", page,
                         assignee=str(dash.users["u02"])), 400)
    assert "（u02）不能办理单位 U-01 的工单" in line
    assert _zh(post_form(manager, dash, f"{page}/callback", page, day="2026-01-01",
                         result="x"), 400) == \
        "回访结果须为「满意」「不满意」「未接通」「拒绝回访」之一（现为「x」）"
    assert _zh(post_form(viewer, dash, f"{page}/assign", page,
                         assignee=""), 403) == "只读账号不能指派工单"
    assert _zh(post_form(viewer, dash, f"{page}/callback", page, day="2026-01-01",
                         result="satisfied"), 403) == "只读账号不能登记回访"
    # in English on an English page, the server's sentence kept under it
    en = post_form(manager, dash, f"{page}/callback", page, "en", day="2026-01-01", result="x")
    assert refusal_line(en).startswith("The callback's result must be Satisfied")
    assert "result must be one of satisfied" in en.text


def test_a_rating_changed_meanwhile_reads_in_chinese(monkeypatch):
    # ``ratings.set_flag``'s Conflict (two decisions on one rating at once) reached the page
    # as English only.
    def clash(*args, **kwargs):
        raise Conflict("rating r-1 changed meanwhile; try again")
    monkeypatch.setattr(rating_store, "set_flag", clash)
    with pytest.raises(Conflict) as refused:
        cases._set_flag(None, "r-1", on=True)
    assert str(problem_text(refused.value, translator("zh_CN"))) == \
        "该工单已被他人处理，请刷新页面后重试"
    assert refused.value.detail == "rating r-1 changed meanwhile; try again"
