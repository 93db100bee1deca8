"""Refusals of the dashboard's own forms in the page's language. A clerk or supervisor on the
Chinese dashboard who was refused (a case appealed without a reason, a case another clerk had
just moved, a pledge item marked kept without evidence, an export whose days were the wrong
way round…) read a Chinese heading over the server's English sentence. Each refusal a form
or link of the dashboard can reach now says it in the page's language with its values; the
English ``detail`` stays, word for word, for the API, the command line and the logs."""

from __future__ import annotations

import datetime as dt
import doctest
import html
import re

import pytest
from sqlalchemy import select, update

from aggregator.dashboard import (
    accounts,
    assessment_config,
    cases,
    i18n,
    i18n_problems,
    i18n_refusals,
    rating_export,
)
from aggregator.dashboard.periods import Period
from aggregator.dashboard.tables import cases as cases_table
from aggregator.db import read, utcnow, write
from aggregator.errors import BadRequest
from aggregator.schema import staff
from tests.dashboard.helpers import PASSWORD, case_action, csrf_of, post_form, refusal_line, staff_account

# words of the English sentences that must not be the problem line of a Chinese page
ENGLISH = re.compile(r"\b(must|cannot|needs?|reload|after|already|period|case|got|give|"
                     r"between|characters|exists|belongs|score|weights?)\b", re.I)



def _detail(r) -> str:
    """The server's own English sentence, shown small under it."""
    return html.unescape(re.search(r"<p[^>]*data-error-detail>(.*?)</p>", r.text, re.S)[1])


def _zh(r, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[-600:])
    problem = refusal_line(r)
    assert not ENGLISH.search(problem), problem
    return problem


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()



# ---- cases ---------------------------------------------------------------------------------


def test_an_appeal_or_its_revocation_without_a_reason_reads_in_chinese(dash):
    case_id = dash.case_id("U-01")
    manager, supervisor = dash.login("u01"), dash.login("jfb")
    for note in ("", "   "):
        r = case_action(manager, dash, case_id, "appeal", note)
        assert _zh(r, 400) == "提出申诉须说明理由（误评/恶意差评及依据）"
        # the server's English stays under it, word for word
        assert _detail(r) == cases.NEEDS_NOTE["appeal"]
    assert case_action(manager, dash, case_id, "appeal", "同一人连续误触").status_code == 303
    assert case_action(supervisor, dash, case_id, "accept_appeal", "核实为误评").status_code == 303
    r = case_action(supervisor, dash, case_id, "revoke_appeal")
    assert _zh(r, 400) == "撤销申诉认定须说明理由"
    en = case_action(supervisor, dash, case_id, "revoke_appeal", lang="en")
    assert refusal_line(en) == "Revoking an accepted appeal needs a reason"


def test_a_case_another_clerk_moved_meanwhile_says_so_in_chinese(dash):
    # Two people on one case: both opened it while it was new; one verified it, then the
    # other pressed "verify" on the page still in front of them.
    case_id = dash.case_id("U-01", skip=3)
    first, second = dash.login("u01"), dash.login("jfb")
    page = f"/dashboard/cases/{case_id}"
    stale = csrf_of(second, f"{dash.url}{page}")
    assert case_action(first, dash, case_id, "verify").status_code == 303
    r = second.post(f"{dash.url}{page}/action?lang=zh_CN", allow_redirects=False,
                    data={"csrf": stale, "action": "verify", "note": ""})
    assert _zh(r, 400) == "该工单当前为「已核实」，不能再执行「核实」；可能已被他人处理，请刷新页面查看"
    assert _detail(r) == "cannot verify a case that is verified"
    r = case_action(second, dash, case_id, "close", lang="en")
    assert refusal_line(r) == ("This case is 'Verified' now, so 'Close' is not possible; someone "
                           "may have handled it meanwhile: reload the page")


def test_a_case_changed_between_reading_and_writing_says_so_in_chinese(dash, monkeypatch):
    # The other clerk's change committed between this request's read of the case and its
    # update: the update found the case no longer in the state it read.
    case_id = dash.case_id("U-01", skip=4)
    read_case = cases.get_case

    def read_then_moved(conn, case_id, allowed):
        case = read_case(conn, case_id, allowed)
        conn.execute(update(cases_table).where(cases_table.c.id == case_id)
                     .values(state="verified"))
        return case

    s = dash.login("u01")
    page = f"/dashboard/cases/{case_id}"
    csrf = csrf_of(s, f"{dash.url}{page}")
    monkeypatch.setattr(cases, "get_case", read_then_moved)
    r = s.post(f"{dash.url}{page}/action?lang=zh_CN", allow_redirects=False,
               data={"csrf": csrf, "action": "verify", "note": ""})
    assert _zh(r, 400) == "该工单已被他人处理，请刷新页面后重试"
    assert _detail(r) == "the case changed meanwhile; reload and try again"


def test_a_callback_date_out_of_range_or_mistyped_reads_in_chinese(dash):
    case_id = dash.case_id("U-01", skip=5)
    with read(dash.engine) as conn:
        opened = conn.execute(select(cases_table.c.opened_day)
                              .where(cases_table.c.id == case_id)).scalar_one()
    s = dash.login("u01")
    page = f"/dashboard/cases/{case_id}"
    r = post_form(s, dash, f"{page}/callback", page, day="2099-01-01", result="satisfied")
    problem = _zh(r, 400)
    assert re.fullmatch(rf"回访日期须在 {opened}（评价日期）至 \d{{4}}-\d\d-\d\d 之间（现为 2099-01-01）",
                        problem), problem
    # a year typed with five digits in the date picker
    r = post_form(s, dash, f"{page}/callback", page, day="20266-05-01", result="satisfied")
    assert _zh(r, 400) == "回访日期：应为年-月-日格式的日期，如 2026-05-01（现为「20266-05-01」）"


# ---- pledges -------------------------------------------------------------------------------

def _pledge(s, dash, lang="zh_CN", **data):
    form = {"owner": "window:W-001", "title": "一次告知 限时办结", "items": "一次性告知\n限时办结"}
    return post_form(s, dash, "/dashboard/pledges", "/dashboard/pledges", lang, **(form | data))


def _new_pledge(s, dash) -> tuple[int, list[int]]:
    r = _pledge(s, dash)
    assert r.status_code == 303, r.text[-400:]
    pledge_id = int(r.headers["location"].rsplit("-", 1)[1])
    page = s.get(f"{dash.url}/dashboard/pledges").text
    block = page.split(f'id="pledge-{pledge_id}"')[1].split("</section>")[0]
    return pledge_id, [int(i) for i in re.findall(r'id="item-(\d+)"', block)]


def test_a_pledges_title_and_items_are_asked_for_in_chinese(dash):
    s = dash.login("u01")
    assert _zh(_pledge(s, dash, title="   "), 400) == "承诺内容：不能为空"
    assert _zh(_pledge(s, dash, items=" \n\n "), 400) == "承诺事项：不能为空"
    many = "\n".join(f"第{n}项" for n in range(1, 22))
    assert _zh(_pledge(s, dash, items=many), 400) == "一项承诺最多 20 个事项（现为 21 个）"
    assert refusal_line(_pledge(s, dash, items=many, lang="en")) == \
        "A pledge has at most 20 items, got 21"


def test_correcting_a_pledge_is_refused_in_chinese(dash):
    s = dash.login("u01")
    pledge_id, items = _new_pledge(s, dash)
    path = f"/dashboard/pledges/{pledge_id}/correct"
    texts = {f"item-{i}": "限时办结" for i in items}
    r = post_form(s, dash, path, "/dashboard/pledges", title="新的承诺", **(texts | {
        f"item-{items[1]}": "  "}))
    assert _zh(r, 400) == "第 2 个承诺事项不能为空；如不再作此承诺，请撤回整项承诺"
    r = post_form(s, dash, path, "/dashboard/pledges", title="新的承诺",
              added="\n".join(f"补充{n}" for n in range(19)), **texts)
    assert _zh(r, 400) == "一项承诺最多 20 个事项（现为 21 个）"
    r = post_form(s, dash, path, "/dashboard/pledges", title=" ", **texts)
    assert _zh(r, 400) == "承诺内容：不能为空"


def test_marking_a_pledge_item_kept_or_broken_without_evidence_reads_in_chinese(dash):
    s = dash.login("u01")
    _, items = _new_pledge(s, dash)
    path = f"/dashboard/pledges/items/{items[0]}"
    r = post_form(s, dash, path, "/dashboard/pledges", status="kept", evidence=" ")
    assert _zh(r, 400) == "标为「已兑现」须填写佐证说明"
    r = post_form(s, dash, path, "/dashboard/pledges", status="broken", evidence="")
    assert _zh(r, 400) == "标为「未兑现」须填写佐证说明"


def test_a_pledge_withdrawn_by_another_manager_meanwhile_reads_in_chinese(dash):
    first, second = dash.login("u01"), dash.login("u01")
    pledge_id, items = _new_pledge(first, dash)
    stale = csrf_of(second, f"{dash.url}/dashboard/pledges")
    assert post_form(first, dash, f"/dashboard/pledges/{pledge_id}/withdraw",
                 "/dashboard/pledges").status_code == 303
    r = second.post(f"{dash.url}/dashboard/pledges/{pledge_id}/correct?lang=zh_CN",
                    allow_redirects=False, data={"csrf": stale, "title": "改后的承诺",
                                                 **{f"item-{i}": "限时办结" for i in items}})
    assert _zh(r, 404) == "该承诺已撤回或不存在，请刷新页面后查看"


# ---- the per-rating export -----------------------------------------------------------------

def _export(s, dash, lang="zh_CN", **q):
    query = {"scope": "", "from": "2026-05-01", "to": "2026-05-31", "target": "provincial",
             "format": "xlsx", "lang": lang} | q
    return s.get(f"{dash.url}/dashboard/ratings/export", params=query)


def test_the_export_forms_days_are_refused_in_chinese(dash):
    s = dash.login("jfb")
    r = _export(s, dash, **{"from": "2026-05-09", "to": "2026-05-01"})
    assert _zh(r, 400) == "起始日期 2026-05-09 晚于截止日期 2026-05-01，请重新选择"
    assert _detail(r) == "from 2026-05-09 is after to 2026-05-01"
    en = _export(s, dash, lang="en", **{"from": "2026-05-09", "to": "2026-05-01"})
    assert refusal_line(en) == "The start date 2026-05-09 is after the end date 2026-05-01"
    # a year typed with five digits in the date picker
    r = _export(s, dash, **{"to": "20266-05-31"})
    assert _zh(r, 400) == "截止日期：应为 1000 年至 8999 年之间的日期，如 2026-05-01（现为「20266-05-31」）"


def test_an_export_too_big_for_one_xlsx_sheet_reads_in_chinese(dash, monkeypatch):
    monkeypatch.setattr(rating_export, "XLSX_MAX_ROWS", 10)
    s = dash.login("jfb")
    first = (_today().replace(day=1) - dt.timedelta(days=40)).isoformat()
    r = _export(s, dash, **{"from": first, "to": _today().isoformat()})
    problem = _zh(r, 400)
    found = re.fullmatch(r"共 ([\d,]+) 条评价，超过 Excel 单个工作表的上限（10 行）；请导出 CSV，或缩短日期范围",
                         problem)
    assert found and int(found[1].replace(",", "")) > 10, problem


# ---- the assessment ------------------------------------------------------------------------

def _previous_month() -> str:
    return Period("month", _today().year, _today().month).previous().key


def _comment(s, dash, lang="zh_CN", **data):
    form = {"period": _previous_month(), "kind": "staff", "target_id": "S-001",
            "score": "90", "comment": "服务热情"}
    return post_form(s, dash, "/dashboard/assessment/comments", "/dashboard/assessment", lang,
                 **(form | data))


def test_a_leader_comment_is_asked_for_in_chinese(dash):
    s = dash.login("u01")
    assert _zh(_comment(s, dash, comment="  "), 400) == "评价意见：不能为空"
    assert _zh(_comment(s, dash, comment="好" * 2001), 400) == \
        "评价意见：不能超过 2000 个字符（现为 2001 个）"


def test_a_period_closed_published_or_not_begun_reads_in_chinese(dash):
    # The form was opened on the last day of a month; it was sent the next day, when the
    # month before last no longer takes comments.
    s = dash.login("u01")
    old = Period("month", _today().year, _today().month).previous().previous().key
    problem = _zh(_comment(s, dash, period=old), 409)
    this = Period("month", _today().year, _today().month)
    assert problem == f"考核期 {old} 已截止，互评和点评只接受 {this.key}、{this.previous().key}"
    # A supervisor published the unit while its manager was writing a comment.
    manager, supervisor = dash.login("u02"), dash.login("jfb")
    csrf = csrf_of(manager, f"{dash.url}/dashboard/assessment")
    r = post_form(supervisor, dash, "/dashboard/assessment/publish", "/dashboard/assessment",
              period=_previous_month(), unit="U-02")
    assert r.status_code == 303, r.text[-400:]
    r = manager.post(f"{dash.url}/dashboard/assessment/comments?lang=zh_CN", data={
        "csrf": csrf, "period": _previous_month(), "kind": "staff", "target_id": "S-007",
        "score": "90", "comment": "服务热情"}, allow_redirects=False)
    assert _zh(r, 409) == f"单位 U-02 已发布 {_previous_month()} 的考核结果，不能再评价或点评"
    # a period still to come (a link kept for next month)
    future = (this.end + dt.timedelta(days=1)).strftime("%Y-%m")
    r = post_form(supervisor, dash, "/dashboard/assessment/publish", "/dashboard/assessment",
              period=future, unit="U-03")
    assert _zh(r, 400) == f"考核期 {future} 尚未开始，不能发布结果"


def _staff_account(dash, staff_id: str) -> str:
    return staff_account(dash, staff_id, "rf")


def _review_form(s, dash):
    page = s.get(f"{dash.url}/dashboard/assessment/review").text
    return (re.search(r'name="csrf" value="([^"]+)"', page)[1],
            re.search(r'name="period" value="([^"]+)"', page)[1])


def _review(s, dash, csrf, period, reviewee, lang="zh_CN", scores=(5, 4, 5)):
    return s.post(f"{dash.url}/dashboard/assessment/review?lang={lang}", allow_redirects=False,
                  data={"csrf": csrf, "period": period, "reviewee_id": reviewee,
                        **dict(zip(("score_skill", "score_conduct", "score_results"),
                                   map(str, scores)))})


def _staff_name(dash, staff_id: str) -> str:
    with read(dash.engine) as conn:
        return conn.execute(select(staff.c.name).where(staff.c.id == staff_id)).scalar_one()


def test_a_second_review_of_a_colleague_reads_in_chinese(dash):
    s = dash.login(_staff_account(dash, "S-002"))
    csrf, period = _review_form(s, dash)
    assert _review(s, dash, csrf, period, "S-003").status_code == 303
    r = _review(s, dash, csrf, period, "S-003")   # sent again from a second tab
    assert _zh(r, 409) == f"您已对 {_staff_name(dash, 'S-003')} 作出 {period} 的互评，提交后不能修改"


def test_a_review_sent_after_the_criteria_changed_reads_in_chinese(dash):
    s = dash.login(_staff_account(dash, "S-004"))
    csrf, period = _review_form(s, dash)
    with read(dash.engine) as conn:
        before = assessment_config.load(conn)
    changed = assessment_config.AssessmentSettings.from_dict(vars(before) | {"criteria": [
        *before.criteria, {"code": "service", "zh": "比服务", "en": "Service"}]})
    with write(dash.engine) as conn:
        assessment_config.save(conn, changed)
    try:
        r = _review(s, dash, csrf, period, "S-005")   # the form of the three criteria before
        assert _zh(r, 400) == "「比服务」须评 1 至 5 分；评价内容可能刚有调整，请刷新页面后重新填写"
        en = _review(s, dash, csrf, period, "S-005", lang="en")
        assert refusal_line(en) == ("'Service' needs a score from 1 to 5; the criteria may have "
                                "just changed: reload the page")
    finally:
        with write(dash.engine) as conn:
            assessment_config.save(conn, before)


def test_a_staff_account_no_longer_linked_to_an_active_staff_member_reads_in_chinese(dash):
    # The staff member left the post (set inactive on the roster); their account still signs
    # in, and the nav's "peer review" link was refused in English.
    s = dash.login(_staff_account(dash, "S-006"))
    with write(dash.engine) as conn:
        conn.execute(update(staff).where(staff.c.id == "S-006").values(active=False))
    try:
        r = s.get(f"{dash.url}/dashboard/assessment/review?lang=zh_CN")
        assert _zh(r, 403) == "您的账号未关联本单位的在岗人员，不能参加互评或查看考核结果，请联系单位负责人"
    finally:
        with write(dash.engine) as conn:
            conn.execute(update(staff).where(staff.c.id == "S-006").values(active=True))


# ---- accounts ------------------------------------------------------------------------------

def _account(s, dash, **data):
    form = {"staff_id": "S-007", "username": "rf-new", "password": "a-long-password-1"}
    return post_form(s, dash, "/dashboard/assessment/accounts", "/dashboard/assessment/settings",
                 **(form | data))


def test_a_staff_account_the_form_refuses_reads_in_chinese(dash):
    s = dash.login("u02")
    assert _zh(_account(s, dash, username="   "), 400) == "用户名：不能为空"
    # ten characters for the browser (UTF-16 units), five for the server
    assert _zh(_account(s, dash, password="🙂" * 5), 400) == "密码：至少需要 10 个字符"
    assert _zh(_account(s, dash, password="x" * 1025), 400) == "密码：不能超过 1024 个字符"
    assert _account(s, dash, username="rf-s007").status_code == 303
    assert _zh(_account(s, dash, username="rf-s007", staff_id="S-008"), 400) == \
        "用户名「rf-s007」已被使用，请换一个"
    assert _zh(_account(s, dash, username="rf-s007b"), 400) == \
        f"{_staff_name(dash, 'S-007')}（S-007）已开通账号，不能重复开通"


def test_a_new_password_the_account_form_let_through_is_refused_in_chinese(dash):
    s = dash.login("viewer")
    for new, problem in (("x" * 1025, "密码：不能超过 1024 个字符"),
                         ("a-long-pass\tword", "密码：不能含有制表符、换行等控制字符")):
        r = post_form(s, dash, "/dashboard/account/password", "/dashboard/account",
                  current=PASSWORD, new=new, again=new)
        assert _zh(r, 400) == problem
    assert dash.login("viewer")   # the password is unchanged


# ---- settings ------------------------------------------------------------------------------

def _settings(s, dash, **data):
    form = {"target_percent": "80", "first_contact_days": "1", "answer_days": "15",
            "holidays": "", "workdays": ""}
    return post_form(s, dash, "/dashboard/settings", "/dashboard/settings", **(form | data))


def test_the_settings_forms_refusals_read_in_chinese(dash):
    s = dash.login("admin")
    # An emptied number field was sent as "" and refused in English ("target_percent: Field
    # required"); the browser asks for it now.
    for path, names in (("/dashboard/settings", ("target_percent", "first_contact_days",
                                                 "answer_days")),
                        ("/dashboard/assessment/settings", ("w_citizens", "w_peers",
                                                            "w_leaders"))):
        page = s.get(f"{dash.url}{path}").text
        for name in names:
            assert re.search(rf'<input name="{name}"[^>]* required[ >]', page), name
    r = _settings(s, dash, first_contact_days="10", answer_days="5")
    assert _zh(r, 400) == "首次联系时限（10 个工作日）不能长于整改答复时限（5 个工作日）"
    r = _settings(s, dash, holidays="2026-10-01\n2026-13-01")
    assert _zh(r, 400) == "法定节假日：应为年-月-日格式的日期，如 2026-05-01（现为「2026-13-01」）"


def _assessment_settings(s, dash, **data):
    form = {"w_citizens": "0.6", "w_peers": "0.2", "w_leaders": "0.2",
            "thresholds": "60 70 80 90", "criteria": "skill | 比技能 | Skill",
            "min_reviewers": "3", "award_scope": "unit", "award_min_ratings": "30"}
    return post_form(s, dash, "/dashboard/assessment/settings", "/dashboard/assessment/settings",
                 **(form | data))


def test_the_assessment_settings_forms_refusals_read_in_chinese(dash):
    s = dash.login("admin")
    label = "星级分数线（2/3/4/5 星）："
    assert _zh(_assessment_settings(s, dash, thresholds="60 70 八十 90"), 400) == \
        label + "应为 0 至 100 之间从低到高的 4 个分数，用空格分隔（现为「60 70 八十 90」）"
    assert _zh(_assessment_settings(s, dash, thresholds="90 80 70 60"), 400) == \
        label + "应为 0 至 100 之间从低到高的 4 个分数，用空格分隔（现为「90 80 70 60」）"
    assert _zh(_assessment_settings(s, dash, w_citizens="0", w_peers="0", w_leaders="0"),
               400) == "三部分权重不能全为 0"
    assert _zh(_assessment_settings(s, dash, criteria=" \n"), 400) == \
        "互评内容（每行：编码 | 中文 | English）：至少写一项，编码为 1 至 32 个字符且不能重复"


# ---- service items -------------------------------------------------------------------------

def test_a_service_item_code_of_another_unit_reads_in_chinese(dash):
    s = dash.login("u01")
    r = post_form(s, dash, "/dashboard/roster/items", "/dashboard/roster", code="U-02-MZ-01",
              name="新事项", time_limit="", unit_id="U-01", mode="new")
    assert _zh(r, 403) == "事项编码 U-02-MZ-01 已属于其他单位（或为各单位共用事项），请换一个编码"


# ---- the English detail stays --------------------------------------------------------------

def test_the_api_and_command_line_keep_the_english_sentence(dash):
    # Only the page translates: the JSON answer (and the command line, which prints
    # ``detail``) keeps the English sentence and never carries the values.
    with write(dash.engine) as conn, pytest.raises(BadRequest) as refused:
        accounts.create_user(conn, "admin", "a-long-password-1", "viewer", now=utcnow())
    assert refused.value.body() == {"error": "bad_request", "field": "username",
                                    "detail": "user 'admin' already exists"}
    with pytest.raises(BadRequest) as refused:
        cases.next_state("verified", "verify", "unit_manager")
    assert refused.value.body() == {"error": "bad_transition", "field": "action",
                                    "detail": "cannot verify a case that is verified"}


def test_every_refusal_has_chinese_and_english_words_and_the_examples_hold():
    assert set(i18n_refusals.ZH) == set(i18n_refusals.EN)
    # merged after the roster's problems: a name used twice would change the roster's words
    assert not set(i18n_refusals.ZH) & set(i18n_problems.ZH)
    assert all(i18n.ZH[k] == v for k, v in i18n_refusals.ZH.items())
    failed, attempted = doctest.testmod(i18n_refusals)
    assert attempted and not failed
