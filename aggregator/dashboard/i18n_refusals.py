"""Refusals of the dashboard's own forms in the page's language: a case action, a callback,
a pledge, the per-rating export, the assessment, a staff account or new password, the
settings. Each refusal keeps its English ``detail`` (for the API, the command line and the
logs) and a message name with its values (``detail_args``); ``i18n_problems.problem_text``
fills the template ``problem_<msg>`` below, naming the form's field first where the refusal
gives one. ``i18n.py`` merges these into its zh_CN and en catalogs.

Refusals that say the same as a roster problem reuse its template (``problem_required``,
``problem_too_long``); a case's state, an action and a pledge item's status are shown by the
labels the pages give them (``i18n_problems.LABELLED``).

>>> from aggregator.dashboard.i18n import translator
>>> from aggregator.dashboard.i18n_problems import problem_text
>>> from aggregator.errors import BadRequest
>>> refused = BadRequest("cannot verify a case that is verified", detail_args={
...     "msg": "bad_transition", "state": "verified", "action": "verify"})
>>> str(problem_text(refused, translator("zh_CN")))
'该工单当前为「已核实」，不能再执行「核实」；可能已被他人处理，请刷新页面查看'
"""

from __future__ import annotations

ZH = {
    # cases (cases.py)
    "problem_appeal_needs_reason": "提出申诉须说明理由（误评/恶意差评及依据）",
    "problem_revoke_appeal_needs_reason": "撤销申诉认定须说明理由",
    "problem_case_changed": "该工单已被他人处理，请刷新页面后重试",
    "problem_bad_transition": "该工单当前为「{state}」，不能再执行「{action}」；可能已被他人处理，请刷新页面查看",
    "problem_callback_day_range": "回访日期须在 {first}（评价日期）至 {last} 之间（现为 {value}）",
    "problem_not_a_date": "应为年-月-日格式的日期，如 2026-05-01（现为「{value}」）",
    "problem_callback_before_close": "实名差评须先回访，记录回访后才能办结",
    "problem_own_appeal": "申诉须由提交人以外的人员审核",
    "problem_assignee_inactive": "{name}（{value}）的账号已停用，不能指派工单",
    "problem_assign_closed": "该工单已办结，不能再指派",
    # cases: the case workflow's other refusals (cases.py, routes_cases.py)
    "problem_accept_appeal_needs_reason": "认定申诉成立须说明理由（为何属误评/恶意差评）",
    "problem_callback_before_appeal": "实名差评须先回访，记录回访后才能认定申诉成立",
    "problem_unknown_action": "没有「{value}」这一操作，请刷新页面后重试",
    "problem_viewer_cannot_act": "只读账号不能办理工单",
    "problem_action_needs_unit_manager": "「{action}」须由单位负责人或上级监管人员操作",
    "problem_action_needs_supervisor": "「{action}」须由上级监管人员（纠风办、政务服务管理办）操作，单位不能自行认定",
    "problem_viewer_cannot_assign": "只读账号不能指派工单",
    "problem_viewer_cannot_callback": "只读账号不能登记回访",
    "problem_callback_result_missing": "请选择回访结果（满意、不满意、未接通或拒绝回访），本次未保存",
    "problem_callback_result": "回访结果须为「满意」「不满意」「未接通」「拒绝回访」之一（现为「{value}」）",
    "problem_assignee_unknown": "没有这个账号（现为「{value}」），请在列表中选择承办人",
    "problem_assignee_out_of_scope": "{name}（{value}）不能办理单位 {unit} 的工单：承办人须为该单位负责人或其上级监管人员",
    # the per-rating export (rating_export.py)
    "problem_date_years": "应为 {lo} 年至 {hi} 年之间的日期，如 2026-05-01（现为「{value}」）",
    "problem_from_after_to": "起始日期 {first} 晚于截止日期 {last}，请重新选择",
    "problem_xlsx_too_many": "共 {count} 条评价，超过 Excel 单个工作表的上限（{max} 行）；请导出 CSV，或缩短日期范围",
    "problem_xlsx_too_many_cases": "共 {count} 件工单，超过 Excel 单个工作表的上限（{max} 行）；请导出 CSV，或缩短日期范围",
    # pledges (pledges.py)
    "problem_too_many_items": "一项承诺最多 {max} 个事项（现为 {count} 个）",
    "problem_item_text_empty": "第 {position} 个承诺事项不能为空；如不再作此承诺，请撤回整项承诺",
    "problem_evidence_required": "标为「{status}」须填写佐证说明",
    "problem_pledge_gone": "该承诺已撤回或不存在，请刷新页面后查看",
    # the assessment (assessment_store.py, assessment_routes.py, assessment_config.py)
    "problem_period_not_begun": "考核期 {period} 尚未开始，不能发布结果",
    "problem_period_not_open": "考核期 {period} 已截止，互评和点评只接受 {open}",
    "problem_period_to_come": "考核期 {period} 尚未开始，互评和点评只接受 {open}",
    "problem_period_not_taken": "互评和点评按月受理，不受理考核期 {period}，只接受 {open}",
    "problem_period_not_ended": "考核期 {period} 尚未结束，{end} 结束后才能发布结果",
    "problem_not_published": "考核期 {period} 尚未发布，无需撤回",
    "problem_period_published": "单位 {unit} 已发布 {period} 的考核结果，不能再评价或点评",
    "problem_already_reviewed": "您已对 {name} 作出 {period} 的互评，提交后不能修改",
    "problem_review_score": "「{zh}」须评 1 至 5 分；评价内容可能刚有调整，请刷新页面后重新填写",
    "problem_staff_not_linked": "您的账号未关联本单位的在岗人员，不能参加互评或查看考核结果，请联系单位负责人",
    "problem_thresholds": "应为 0 至 100 之间从低到高的 4 个分数，用空格分隔（现为「{value}」）",
    "problem_weights_all_zero": "三部分权重不能全为 0",
    "problem_criteria": "至少写一项，编码为 1 至 32 个字符且不能重复",
    # accounts (accounts.py): a staff account, a new password
    "problem_password_short": "至少需要 {limit} 个字符",
    "problem_password_long": "不能超过 {limit} 个字符",
    "problem_password_control": "不能含有制表符、换行等控制字符",
    "problem_user_exists": "用户名「{value}」已被使用，请换一个",
    "problem_staff_has_account": "{name}（{value}）已开通账号，不能重复开通",
    "problem_username_char": "第 {position} 个字符是看不见的控制或格式字符（{char}，如零宽空格），用户名只能含可见文字，请删去",
    "problem_must_change_password": "您的密码由他人设置（开通账号或重置密码时），请先在“修改密码”页设置只有您自己知道的新密码，再使用其他功能",
    # any form (web.py, mount.py)
    "problem_nul_char": "含有看不见的空字符（NUL），未保存；请删去后重新提交",
    "problem_not_utf8": "含有无效的字符（不是有效的 UTF-8 文字），未保存；请重新输入后提交",
    "problem_field_too_large": "提交的内容中有一项超过 1 MB，未保存；请缩短后重新提交",
    "problem_too_many_fields": "提交的内容项数过多，未保存；请刷新页面后重新填写",
    # the settings (config.py) and service items (items.py)
    "problem_first_contact_after_answer": "首次联系时限（{first} 个工作日）不能长于整改答复时限（{answer} 个工作日）",
    "problem_item_other_unit": "事项编码 {value} 已属于其他单位（或为各单位共用事项），请换一个编码",
}
EN = {
    "problem_appeal_needs_reason": "An appeal needs a reason: why the rating is mistaken or malicious",
    "problem_revoke_appeal_needs_reason": "Revoking an accepted appeal needs a reason",
    "problem_case_changed": "Someone else changed this case meanwhile; reload the page and try again",
    "problem_bad_transition": "This case is '{state}' now, so '{action}' is not possible; someone may have handled it meanwhile: reload the page",
    "problem_callback_day_range": "The callback's date must be from {first} (the day of the rating) to {last}, got {value}",
    "problem_not_a_date": "must be a date YYYY-MM-DD, got '{value}'",
    "problem_callback_before_close": "The citizen left a number to be called back: record the callback before closing the case",
    "problem_own_appeal": "An appeal is decided by someone other than who filed it",
    "problem_assignee_inactive": "The account of {name} ({value}) is deactivated and cannot be assigned cases",
    "problem_assign_closed": "This case is closed and cannot be assigned any more",
    "problem_accept_appeal_needs_reason": "Accepting an appeal needs a reason: why the rating is mistaken or malicious",
    "problem_callback_before_appeal": "The citizen left a number to be called back: record the callback before accepting the appeal",
    "problem_unknown_action": "There is no action '{value}'; reload the page and try again",
    "problem_viewer_cannot_act": "A read-only account cannot work on cases",
    "problem_action_needs_unit_manager": "'{action}' is for the unit's managers and the supervisors above them",
    "problem_action_needs_supervisor": "'{action}' is for the supervisors: a unit does not decide its own appeal",
    "problem_viewer_cannot_assign": "A read-only account cannot assign cases",
    "problem_viewer_cannot_callback": "A read-only account cannot record callbacks",
    "problem_callback_result_missing": "Choose the callback's result (Satisfied, Unsatisfied, Unreachable or Declined); nothing was saved",
    "problem_callback_result": "The callback's result must be Satisfied, Unsatisfied, Unreachable or Declined, got '{value}'",
    "problem_assignee_unknown": "There is no such account ('{value}'); choose the assignee from the list",
    "problem_assignee_out_of_scope": "{name} ({value}) cannot handle the cases of unit {unit}: the assignee must be a manager of the unit or a supervisor above it",
    "problem_date_years": "must be a date YYYY-MM-DD in the years {lo}–{hi}, got '{value}'",
    "problem_from_after_to": "The start date {first} is after the end date {last}",
    "problem_xlsx_too_many": "{count} ratings do not fit in one Excel sheet ({max} rows at most): export CSV, or fewer days",
    "problem_xlsx_too_many_cases": "{count} cases do not fit in one Excel sheet ({max} rows at most): export CSV, or fewer days",
    "problem_too_many_items": "A pledge has at most {max} items, got {count}",
    "problem_item_text_empty": "Item {position} cannot be empty (withdraw the pledge instead)",
    "problem_evidence_required": "Marking an item '{status}' needs evidence: say what shows it",
    "problem_pledge_gone": "This pledge was withdrawn or does not exist; reload the page",
    "problem_period_not_begun": "Period {period} has not begun; its results cannot be published yet",
    "problem_period_not_open": "Period {period} is closed; reviews and comments are taken for {open}",
    "problem_period_to_come": "Period {period} has not begun; reviews and comments are taken for {open}",
    "problem_period_not_taken": "Reviews and comments are taken by month, not for {period}; they are taken for {open}",
    "problem_period_not_ended": "Period {period} has not ended; its results can be published after {end}",
    "problem_not_published": "Period {period} is not published; there is nothing to take back",
    "problem_period_published": "Unit {unit} has published its results of {period}; they cannot be reviewed or commented on any more",
    "problem_already_reviewed": "You have already reviewed {name} for {period}; a review cannot be changed",
    "problem_review_score": "'{en}' needs a score from 1 to 5; the criteria may have just changed: reload the page",
    "problem_staff_not_linked": "Your account is not linked to an active staff member of your unit, so you cannot review colleagues or see results; ask your unit's manager",
    "problem_thresholds": "must be 4 ascending scores from 0 to 100, separated by spaces, got '{value}'",
    "problem_weights_all_zero": "The three weights cannot all be 0",
    "problem_criteria": "at least one line; codes of 1-32 characters, each used once",
    "problem_password_short": "must have at least {limit} characters",
    "problem_password_long": "must have at most {limit} characters",
    "problem_password_control": "must not contain control characters (tab, line break…)",
    "problem_user_exists": "The user name '{value}' is taken; choose another",
    "problem_staff_has_account": "{name} ({value}) already has an account",
    "problem_username_char": "character {position} is an invisible control or format character ({char}, e.g. a zero-width space); a user name holds visible text only: delete it",
    "problem_must_change_password": "Your password was set by someone else (when the account was made or reset): choose a new one only you know on the Password page first",
    "problem_nul_char": "holds an invisible NUL character; nothing was saved: delete it and send again",
    "problem_not_utf8": "holds characters that are not valid UTF-8 text; nothing was saved: type it again",
    "problem_field_too_large": "A field of the form is over 1 MB; nothing was saved: shorten it and send again",
    "problem_too_many_fields": "The form has too many fields; nothing was saved: reload the page and fill it in again",
    "problem_first_contact_after_answer": "First contact ({first} working days) cannot be later than the answer ({answer} working days)",
    "problem_item_other_unit": "The service item code {value} belongs to another unit (or is shared by all units); choose another code",
}
