"""The dashboard's message catalog: zh_CN (default) and en. ``translator(lang)("key")``."""

from __future__ import annotations

from .. import constants as C
from . import i18n_alerts, i18n_export, i18n_manage, i18n_problems, i18n_refusals

ZH = {
    "app": "窗口服务好差评 · 监管平台", "app_short": "好差评监管平台",
    "login": "登录", "logout": "退出", "username": "用户名", "password": "密码",
    "sign_in": "登 录", "login_hint": "请使用单位分配的账号登录。连续 5 次密码错误将锁定 15 分钟。",
    "login_invalid": "用户名或密码错误。", "login_locked": "登录失败次数过多，账号已锁定 15 分钟，请稍后再试。",
    "overview": "总览", "rankings": "排名通报", "cases": "差评整改", "devices": "设备",
    "roster": "人员与事项", "settings": "设置", "public": "公开结果",
    "role_admin": "系统管理员", "role_supervisor": "监管人员", "role_unit_manager": "单位负责人",
    "role_viewer": "只读用户", "scope_all": "全部单位", "scope": "范围",
    "period": "统计期间", "apply": "查询", "include_flagged": "含可疑评价",
    "rate": "满意率", "rated": "评价量", "satisfied": "满意", "bad": "差评", "target": "目标",
    "smoothed": "综合得分", "mean": "平均星级", "flagged": "可疑", "change": "环比",
    "rank": "名次", "name": "名称", "below_target": "未达标", "meets_target": "达标",
    "units_meeting": "达标单位", "bad_in_period": "本期差评", "overdue_cases": "超期工单",
    "offline_devices": "离线设备", "open_alerts": "未处理预警", "trend": "每日评价量与满意率",
    "trend_legend": "柱：评价量　线：满意率　虚线：目标", "vs_prev": "较上期",
    "no_data": "本期暂无数据", "below_list": "未达标单位", "alerts": "异常预警",
    "group_unit": "单位", "group_window": "窗口", "group_staff": "人员", "group_service_item": "事项",
    "group_region": "地区", "bulletin_title": "服务好差评情况通报", "export_xlsx": "导出 Excel",
    "export_csv": "导出 CSV", "print": "打印通报", "prev_rank": "上期名次",
    "ranking_note": "综合得分为贝叶斯平滑平均星级（先验权重 C={c}，全体均值 {m}），评价量少的对象向均值收缩；默认剔除可疑评价。",
    "yes": "是", "no": "否",
    "col_rank": "名次", "col_name": "名称", "col_key": "编号", "col_rated": "评价量",
    "col_satisfied": "满意数", "col_bad": "差评数", "col_rate": "满意率", "col_smoothed": "综合得分",
    "col_prev_rate": "上期满意率", "col_rate_change": "环比变化", "col_below_target": "未达标",
    "col_flagged": "可疑评价",
    "state": "状态", "state_new": "待核实", "state_verified": "已核实", "state_rectifying": "整改中",
    "state_answered": "已答复", "state_closed": "已办结", "state_appealed": "申诉中",
    "state_open": "未办结", "state_overdue": "已超期", "state_mine": "我的工单", "state_all": "全部",
    "case": "工单", "case_no": "工单号", "opened": "评价日期", "first_contact_due": "首次联系时限",
    "rated_at": "评价时间", "device_clock": "设备时钟",
    "device_clock_hint": "评价终端自身时钟的读数；评价时间已按该终端的时钟偏差校正",
    "answer_due": "答复时限", "assignee": "承办人", "unassigned": "未指派", "window": "窗口",
    "unit": "单位", "staff": "人员", "level": "评价等级", "reasons": "差评原因",
    "overdue": "超期", "overdue_first_contact": "联系超期", "overdue_answer": "答复超期",
    "action_verify": "核实", "action_rectify": "开始整改", "action_answer": "答复",
    "action_close": "办结", "action_reopen": "退回整改", "action_appeal": "申诉（误评/恶意差评）",
    "action_accept_appeal": "申诉成立（作废）", "action_reject_appeal": "驳回申诉",
    "action_revoke_appeal": "撤销申诉认定", "audit_revoke_appeal": "撤销申诉认定",
    "appeal_counted_again": "重新计入满意率",
    "note": "说明", "appeal_reason": "申诉理由", "assign": "指派", "callbacks": "回访记录",
    "add_callback": "登记回访", "callback_day": "回访日期", "callback_result": "回访结果",
    "result_satisfied": "满意", "result_unsatisfied": "不满意", "result_unreachable": "未接通",
    "result_declined": "拒绝回访", "history": "操作记录", "phone": "联系电话",
    "phone_masked_note": "号码已脱敏，仅承办人可见完整号码。", "comment": "评价意见",
    "rating": "评价", "channel": "渠道", "channel_3": "二维码", "channel_4": "大厅平板",
    "service_item": "服务事项", "resolution": "办结方式", "resolution_invalid": "申诉成立，差评作废",
    "resolution_resolved": "整改办结", "no_cases": "没有符合条件的工单",
    "appeal_not_counted": "申诉成立，不计入满意率",
    "flagged_callback": "可疑评价，不计入满意率；群众要求回访",
    "flagged_callback_hint": "该评价被标记为可疑（如锁定时间内的第二次评价、同一网络地址的连续评价），不计入满意率、差评数和排名；因群众留下电话并同意回访，仍建立工单跟进。",
    "appeal_not_counted_hint": "该评价已标记为可疑（appeal_accepted），不计入满意率、差评数和排名；勾选“含可疑评价”时计入。评价本身保留。",
    "audit_view": "查看详情", "audit_verify": "核实", "audit_rectify": "开始整改",
    "audit_answer": "答复", "audit_close": "办结", "audit_reopen": "退回整改",
    "audit_appeal": "提出申诉", "audit_accept_appeal": "申诉成立", "audit_reject_appeal": "驳回申诉",
    "audit_assign": "指派", "audit_callback": "登记回访", "save": "保存", "actions": "操作",
    "device": "设备", "status": "状态", "online": "在线", "offline": "离线", "revoked": "已停用",
    "last_seen": "最后通信", "backlog": "待上传", "version": "版本", "clock_offset": "时钟偏差",
    "revoke": "停用", "revoke_confirm": "停用后该设备不能再上传，已上传数据保留。确定停用？",
    "issue_code": "生成注册码", "enroll_code": "设备注册码", "valid_until": "有效期至", "valid_for_hours": "有效时长（小时）", "none_recorded": "（未登记）",
    "enroll_hint": "在平板的技术员界面输入或扫描此码，一次有效。",
    "enroll_again": "重新注册", "code_for": "用于", "new_device": "新设备",
    "code_for_device": "此码只能注册设备",
    "enroll_again_hint": "在这台平板的技术员界面输入或扫描此码：它换用新的密钥并归入上面的窗口，已上传的数据保留。一次有效。",
    "no_devices": "范围内暂无设备", "disk_free": "剩余空间",
    "staff_list": "窗口人员与承诺", "staff_no": "工号", "post": "岗位", "pledge": "服务承诺",
    "stars": "星级", "party_member": "党员", "active": "在岗", "import": "导入花名册",
    "import_hint": "支持 .xlsx / .csv，首行为列名（编号、姓名、工号、岗位、单位编号、窗口编号、承诺…）。整表校验通过才导入。",
    "imported": "已导入 {n} 人，终端将在下次同步时更新。", "import_errors": "导入失败，未做任何修改：",
    "service_items": "服务事项", "code": "编码", "time_limit": "办结时限", "add_item": "添加事项",
    "config_version": "配置版本", "edit": "编辑", "file": "文件",
    "target_rate": "满意率目标", "first_contact_days": "首次联系（工作日）",
    "answer_days": "整改答复（工作日）", "holidays": "法定节假日", "workdays": "调休上班日",
    "days_hint": "每行或空格分隔一个日期 YYYY-MM-DD",
    "public_title": "服务评价结果公开", "public_note": "数据来自窗口评价器与扫码评价，仅公开汇总结果，不含任何评价人信息。",
    "monthly": "近六个月", "windows_last_month": "各窗口上月情况",
    "too_few": "评价量不足 {n} 条，不计满意率", "hotline": "监督电话",
    "hour_weekday": "评价时段分布（星期 × 小时）", "heat_note": "颜色越深评价越多，红框表示差评占比超过 5%",
    "reasons_breakdown": "差评原因", "drill": "下钻", "back": "返回", "region": "地区",
    "error": "出错了", "error_403": "无权访问：该内容不在您的权限范围内。",
    "error_404": "未找到该页面或对象。", "error_400": "请求有误。", "home": "返回首页",
    "back_to_page": "返回上一页",
    "error_503": "系统暂时无法使用（数据库无法连接或磁盘已满），本次操作未保存，请几分钟后再试。",
    "error_csrf": "页面已过期，本次提交未保存：请刷新页面后重新填写提交。",
    "clear_filter": "取消筛选",
    "login_motto": "一次一评 · 差评必改 · 结果公开", "login_point_1": "满意率与排名通报",
    "login_point_2": "差评整改工单与时限", "login_point_3": "设备健康与异常预警",
    "error_405": "此地址不能直接打开，请从菜单进入。", "error_413": "提交的内容过大。",
    "error_429": "操作过于频繁，请稍后再试。",
    "error_409": "内容刚被他人修改，本次操作未保存：请刷新页面后重试。",
    "error_410": "该内容已失效（已使用或已过期）。", "error_other": "本次操作未完成。",
    "error_500": "系统内部出错，本次操作可能未保存；请稍后再试，问题持续请联系系统管理员。",
    "language": "语言", "switch_lang": "English", "page": "页", "prev": "上一页", "next": "下一页",
    "generated": "制表时间", "bulletin_intro": "现将{period}各{group}服务好差评情况通报如下：",
    "summary": "概况", "total_ratings": "评价总量", "overall_rate": "总体满意率",
    "staff_privacy": "仅显示汇总数据；工作人员无法查看单条评价。",
}

EN = {
    "app": "Service Rating · Supervision", "app_short": "Service Rating",
    "login": "Sign in", "logout": "Sign out", "username": "User name", "password": "Password",
    "sign_in": "Sign in", "login_hint": "Use the account your office gave you. 5 wrong passwords lock it for 15 minutes.",
    "login_invalid": "Wrong user name or password.", "login_locked": "Too many failed sign-ins; locked for 15 minutes.",
    "overview": "Overview", "rankings": "Rankings", "cases": "Bad-rating cases", "devices": "Devices",
    "roster": "Roster & items", "settings": "Settings", "public": "Public results",
    "role_admin": "Administrator", "role_supervisor": "Supervisor", "role_unit_manager": "Unit manager",
    "role_viewer": "Viewer", "scope_all": "All units", "scope": "Scope",
    "period": "Period", "apply": "Show", "include_flagged": "Include flagged",
    "rate": "Satisfaction", "rated": "Ratings", "satisfied": "Satisfied", "bad": "Bad", "target": "Target",
    "smoothed": "Score", "mean": "Mean stars", "flagged": "Flagged", "change": "Change",
    "rank": "Rank", "name": "Name", "below_target": "Below target", "meets_target": "On target",
    "units_meeting": "Units on target", "bad_in_period": "Bad ratings", "overdue_cases": "Overdue cases",
    "offline_devices": "Offline devices", "open_alerts": "Open alerts", "trend": "Daily ratings and satisfaction",
    "trend_legend": "bars: ratings · line: satisfaction · dashed: target", "vs_prev": "vs previous",
    "no_data": "No data in this period", "below_list": "Units below target", "alerts": "Alerts",
    "group_unit": "Units", "group_window": "Windows", "group_staff": "Staff", "group_service_item": "Service items",
    "group_region": "Regions", "bulletin_title": " — service rating bulletin", "export_xlsx": "Export Excel",
    "export_csv": "Export CSV", "print": "Print bulletin", "prev_rank": "Prev. rank",
    "ranking_note": "Score = Bayesian-smoothed mean stars (prior weight C={c}, overall mean {m}); small volumes shrink towards the mean. Flagged ratings excluded by default.",
    "yes": "yes", "no": "no",
    "col_rank": "Rank", "col_name": "Name", "col_key": "Id", "col_rated": "Ratings",
    "col_satisfied": "Satisfied", "col_bad": "Bad", "col_rate": "Satisfaction", "col_smoothed": "Score",
    "col_prev_rate": "Previous", "col_rate_change": "Change", "col_below_target": "Below target",
    "col_flagged": "Flagged",
    "state": "State", "state_new": "New", "state_verified": "Verified", "state_rectifying": "Rectifying",
    "state_answered": "Answered", "state_closed": "Closed", "state_appealed": "Appealed",
    "state_open": "Open", "state_overdue": "Overdue", "state_mine": "Mine", "state_all": "All",
    "case": "Case", "case_no": "Case", "opened": "Rated on", "first_contact_due": "Contact by",
    "rated_at": "Rated at", "device_clock": "kiosk clock",
    "device_clock_hint": "What the kiosk's own clock read; the time rated is corrected for that kiosk's clock offset",
    "answer_due": "Answer by", "assignee": "Assignee", "unassigned": "Unassigned", "window": "Window",
    "unit": "Unit", "staff": "Staff", "level": "Level", "reasons": "Reasons",
    "overdue": "Overdue", "overdue_first_contact": "Contact overdue", "overdue_answer": "Answer overdue",
    "action_verify": "Verify", "action_rectify": "Start rectifying", "action_answer": "Answer",
    "action_close": "Close", "action_reopen": "Back to rectifying", "action_appeal": "Appeal (mistaken/malicious)",
    "action_accept_appeal": "Accept appeal (void)", "action_reject_appeal": "Reject appeal",
    "action_revoke_appeal": "Revoke the accepted appeal",
    "audit_revoke_appeal": "Accepted appeal revoked", "appeal_counted_again": "Counted again",
    "note": "Note", "appeal_reason": "Reason", "assign": "Assign", "callbacks": "Callbacks",
    "add_callback": "Record callback", "callback_day": "Date", "callback_result": "Result",
    "result_satisfied": "Satisfied", "result_unsatisfied": "Unsatisfied", "result_unreachable": "Unreachable",
    "result_declined": "Declined", "history": "History", "phone": "Phone",
    "phone_masked_note": "Masked: only the assignee sees the full number.", "comment": "Comment",
    "rating": "Rating", "channel": "Channel", "channel_3": "QR code", "channel_4": "Hall tablet",
    "service_item": "Service item", "resolution": "Resolution", "resolution_invalid": "Appeal accepted, void",
    "resolution_resolved": "Rectified", "no_cases": "No cases match",
    "appeal_not_counted": "Appeal accepted: not counted",
    "flagged_callback": "Flagged, not counted; callback requested",
    "flagged_callback_hint": "The rating is flagged (e.g. a second rating within the lockout, or in a row from one network address): left out of rates, bad counts and rankings. The citizen left a number and asked to be called back, so it has a case all the same.",
    "appeal_not_counted_hint": "The rating is flagged (appeal_accepted): left out of rates, bad counts and rankings; counted again with \"Include flagged\". The rating itself is kept.",
    "audit_view": "Viewed", "audit_verify": "Verified", "audit_rectify": "Started rectifying",
    "audit_answer": "Answered", "audit_close": "Closed", "audit_reopen": "Back to rectifying",
    "audit_appeal": "Appealed", "audit_accept_appeal": "Appeal accepted", "audit_reject_appeal": "Appeal rejected",
    "audit_assign": "Assigned", "audit_callback": "Callback", "save": "Save", "actions": "Actions",
    "device": "Device", "status": "Status", "online": "Online", "offline": "Offline", "revoked": "Revoked",
    "last_seen": "Last seen", "backlog": "Backlog", "version": "Version", "clock_offset": "Clock offset",
    "revoke": "Revoke", "revoke_confirm": "The device will not upload any more; its data is kept. Revoke?",
    "issue_code": "Issue code", "enroll_code": "Enrolment code", "valid_until": "Valid until", "valid_for_hours": "Valid for (hours)", "none_recorded": "(not recorded)",
    "enroll_hint": "Type or scan it on the tablet's technician screen; one use only.",
    "enroll_again": "Enrol again", "code_for": "For", "new_device": "A new device",
    "code_for_device": "This code enrols only device",
    "enroll_again_hint": "Type or scan it on this tablet's technician screen: it takes a new key and the window above; what it uploaded is kept. One use only.",
    "no_devices": "No devices in your scope", "disk_free": "Disk free",
    "staff_list": "Staff and pledges", "staff_no": "No.", "post": "Post", "pledge": "Pledge",
    "stars": "Stars", "party_member": "Party", "active": "Active", "import": "Import roster",
    "import_hint": ".xlsx or .csv; first row = column names (id, name, staff_no, post, unit_id, window_id, pledge…). Imported only if every row is valid.",
    "imported": "{n} staff imported; kiosks update at their next sync.", "import_errors": "Nothing imported:",
    "service_items": "Service items", "code": "Code", "time_limit": "Time limit", "add_item": "Add item",
    "config_version": "Config version", "edit": "Edit", "file": "File",
    "target_rate": "Satisfaction target", "first_contact_days": "First contact (working days)",
    "answer_days": "Answer (working days)", "holidays": "Public holidays", "workdays": "Extra working days",
    "days_hint": "One date YYYY-MM-DD per line or separated by spaces",
    "public_title": "Service rating results", "public_note": "From window tablets and QR ratings. Totals only; nothing about any rater.",
    "monthly": "Last six months", "windows_last_month": "Windows last month",
    "too_few": "fewer than {n} ratings: no rate shown", "hotline": "Hotline",
    "hour_weekday": "Ratings by weekday and hour", "heat_note": "Darker = more ratings; red outline = bad share above 5 %",
    "reasons_breakdown": "Reasons of bad ratings", "drill": "Drill down", "back": "Back", "region": "Region",
    "error": "Something went wrong", "error_403": "Not allowed: this is outside your scope.",
    "error_404": "No such page or object.", "error_400": "Bad request.", "home": "Home",
    "back_to_page": "Back",
    "error_503": "The system is not available just now (its database cannot be reached or its "
                 "disk is full); nothing of this was saved. Please try again in a few minutes.",
    "error_csrf": "This page had expired and nothing was saved: reload it and send the form again.",
    "clear_filter": "Clear the filter",
    "login_motto": "One service, one rating · every bad rating put right · results in public",
    "login_point_1": "Satisfaction rates, rankings and bulletins",
    "login_point_2": "Bad-rating cases with their deadlines",
    "login_point_3": "Device health and integrity alerts",
    "error_405": "This address cannot be opened directly; use the menu.",
    "error_413": "What was sent is too large.", "error_429": "Too many tries; please wait a moment.",
    "error_409": "Someone else changed this meanwhile and nothing was saved: reload the page and "
                 "try again.",
    "error_410": "This is no longer valid (used or expired).", "error_other": "This was not done.",
    "error_500": "Something failed inside the system and this may not have been saved; try again "
                 "later, and tell the administrator if it keeps happening.",
    "language": "Language", "switch_lang": "中文", "page": "page", "prev": "Previous", "next": "Next",
    "generated": "Generated", "bulletin_intro": "Service ratings of {group} in {period}:",
    "summary": "Summary", "total_ratings": "Total ratings", "overall_rate": "Overall satisfaction",
    "staff_privacy": "Totals only; staff never see individual ratings.",
}
# The assessment (量化考核), peer review, leader comments, pledges (践诺), awards.
ZH.update({
    "assessment": "量化考核", "pledges": "承诺践诺", "peer_review": "同事互评", "my_results": "我的考核",
    "role_staff": "窗口人员", "assessment_title": "窗口服务量化考核结果",
    "part_citizens": "群众评议", "part_peers": "同事互评", "part_leaders": "领导点评",
    "part_missing": "本期无此项", "missing": "缺项", "renormalised": "权重重新分配",
    "renormalised_hint": "缺少的评价项不按 0 分计，其权重按比例分给已有的评价项。",
    "published_ok": "已发布：结果已冻结，星级和流动红旗将在终端下次同步时更新。",
    "comment_saved": "点评已保存。", "formula": "综合得分 =", "stars_from": "星级分数线",
    "assessment_settings": "考核设置", "publish": "发布本期结果",
    "publish_confirm": "发布后本期结果冻结，互评和点评关闭，星级推送到窗口终端。确定发布？",
    "published": "已发布", "published_some": "已发布 {n}/{m} 个单位", "provisional": "未发布（实时）",
    "windows_assessed": "已考核窗口", "staff_assessed": "已考核人员", "pledge_rate": "践诺率",
    "award": "流动红旗", "window_assessment": "窗口考核", "staff_assessment": "人员考核",
    "n_ratings": "{n} 条评价", "n_reviewers": "{n} 人互评", "n_reviews": "{n} 份互评", "n_comments": "{n} 条点评",
    "composite": "综合得分",
    "formula_note": "各项均为百分制：群众评议 = (贝叶斯平滑平均星级 − 1) × 25；同事互评 = (各项互评平均分 − 1) × 25，自评不计入，少于 {m} 人互评时不计（保护匿名）；领导点评取各领导评分平均。综合得分 = Σ权重×得分 ÷ 已有项权重之和。",
    "leader_comments": "领导点评", "kind_staff": "人员", "kind_window": "窗口",
    "comment_action": "点评", "comment_edit": "修改点评", "leader_score": "评分（0–100）",
    "reviewed": "已评", "grade_5": "优秀", "grade_4": "良好", "grade_3": "合格", "grade_2": "基本合格",
    "grade_1": "不合格", "submit_review": "提交互评", "submit_self": "提交自评",
    "review_saved": "已提交。每位同事每期只能评一次，提交后不能修改。",
    "review_intro": "请对本单位每位同事按“比技能、比作风、比业绩”逐项评价。",
    "review_anonymous": "互评匿名：被评人只能看到三人以上的平均分，任何页面都不显示谁评了谁。",
    "period_closed": "本期互评已结束或结果已发布。", "review_progress": "已评 {n} / {m} 位同事",
    "no_colleagues": "本单位暂无其他在岗人员。", "self_review": "自评",
    "self_review_note": "自评单独保存，只与同事评价对照显示，不计入综合得分。",
    "parts": "得分构成", "part": "评价项", "score": "得分", "weight_used": "实际权重", "basis": "依据",
    "too_few_reviewers": "不足 {m} 人，不计", "peer_by_criterion": "互评分项（1–5 分）",
    "criterion": "评价内容", "colleagues_avg": "同事平均", "no_comments": "本期暂无点评",
    "thresholds": "星级分数线（2/3/4/5 星）", "criteria": "互评内容（每行：编码 | 中文 | English）",
    "min_reviewers": "互评最少人数", "award_scope": "流动红旗评比范围", "award_min_ratings": "参评最少评价量",
    "admin_only": "仅系统管理员可修改考核设置。", "staff_accounts": "人员账号",
    "staff_accounts_hint": "为窗口人员开通账号后，本人只能看到本单位互评表和自己的考核结果，看不到任何评价和工单。",
    "create_account": "开通账号", "saved_settings": "设置已保存。", "saved_account": "账号已开通。",
    "status_kept": "已兑现", "status_in_progress": "推进中", "status_broken": "未兑现",
    "new_pledge": "新增承诺", "pledge_owner": "承诺人/窗口", "pledge_title": "承诺内容",
    "pledge_items": "承诺事项（每行一项）", "pledge_item": "承诺事项", "evidence": "佐证说明",
    "no_pledges": "暂无承诺", "public_pledges": "承诺践诺情况", "public_awards": "星级窗口与流动红旗",
    "col_kind": "类别", "col_unit": "单位", "col_citizens": "群众评议", "col_ratings": "评价量",
    "col_peers": "同事互评", "col_reviewers": "互评人数", "col_leaders": "领导点评",
    "col_composite": "综合得分", "col_weights": "实际权重", "col_stars": "星级", "col_award": "流动红旗",
    "unpublish": "撤回发布", "unpublished_ok": "已撤回发布：本期结果恢复为实时计算，终端下次同步时不再显示本期星级。",
    "unpublish_confirm": "撤回后本期结果不再冻结，终端不再显示本期星级和流动红旗；本期仍在受理期内的，互评和点评重新开放。确定撤回？",
    "publish_after": "本期 {end} 结束后才能发布",
    "citizens_too_few": "评价数不足 {n} 条，暂不显示",
})
EN.update({
    "assessment": "Assessment", "pledges": "Pledges", "peer_review": "Peer review", "my_results": "My results",
    "role_staff": "Window staff", "assessment_title": "window service assessment",
    "part_citizens": "Citizens", "part_peers": "Peers", "part_leaders": "Leaders",
    "part_missing": "not available this period", "missing": "missing", "renormalised": "weights renormalised",
    "renormalised_hint": "A missing part does not count as 0: its weight is shared out among the parts present.",
    "published_ok": "Published: results frozen; stars and the award reach the kiosks at their next sync.",
    "comment_saved": "Comment saved.", "formula": "Composite =", "stars_from": "star thresholds",
    "assessment_settings": "Assessment settings", "publish": "Publish results",
    "publish_confirm": "Publishing freezes the period, closes reviews and comments and sends the stars to the kiosks. Publish?",
    "published": "Published", "published_some": "{n}/{m} units published", "provisional": "Provisional (live)",
    "windows_assessed": "Windows assessed", "staff_assessed": "Staff assessed", "pledge_rate": "Pledges kept",
    "award": "Red flag", "window_assessment": "Windows", "staff_assessment": "Staff",
    "n_ratings": "{n} ratings", "n_reviewers": "{n} reviewers", "n_reviews": "{n} peer reviews", "n_comments": "{n} comments",
    "composite": "Composite",
    "formula_note": "Every part is 0-100: citizens = (Bayesian-smoothed mean stars − 1) × 25; peers = (mean review score − 1) × 25, self-reviews excluded, missing under {m} reviewers (anonymity); leaders = mean of the leaders' scores. Composite = Σ weight × part ÷ the weights of the parts present.",
    "leader_comments": "Leader comments", "kind_staff": "staff", "kind_window": "window",
    "comment_action": "Comment", "comment_edit": "Edit comment", "leader_score": "Score (0-100)",
    "reviewed": "Reviewed", "grade_5": "Excellent", "grade_4": "Good", "grade_3": "Adequate", "grade_2": "Fair",
    "grade_1": "Poor", "submit_review": "Submit review", "submit_self": "Submit self-review",
    "review_saved": "Submitted. One review per colleague per period; it cannot be changed.",
    "review_intro": "Rate each colleague of your unit on skill, conduct and results.",
    "review_anonymous": "Anonymous: the person rated sees only averages of 3 or more reviewers; no page shows who reviewed whom.",
    "period_closed": "Reviews for this period are closed or its results are published.", "review_progress": "{n} of {m} colleagues reviewed",
    "no_colleagues": "No other active staff in your unit.", "self_review": "Self-review",
    "self_review_note": "Kept apart: shown next to your colleagues' average, never part of the composite.",
    "parts": "Parts", "part": "Part", "score": "Score", "weight_used": "Weight used", "basis": "Basis",
    "too_few_reviewers": "fewer than {m}: not counted", "peer_by_criterion": "Peer review by criterion (1-5)",
    "criterion": "Criterion", "colleagues_avg": "Colleagues", "no_comments": "No comments this period",
    "thresholds": "Star thresholds (2/3/4/5 stars)", "criteria": "Criteria (one per line: code | 中文 | English)",
    "min_reviewers": "Minimum reviewers", "award_scope": "Award among", "award_min_ratings": "Minimum ratings to compete",
    "admin_only": "Only an administrator changes the assessment settings.", "staff_accounts": "Staff accounts",
    "staff_accounts_hint": "A staff account sees only the peer-review form of its unit and its own results, never ratings or cases.",
    "create_account": "Create account", "saved_settings": "Settings saved.", "saved_account": "Account created.",
    "status_kept": "Kept", "status_in_progress": "In progress", "status_broken": "Broken",
    "new_pledge": "New pledge", "pledge_owner": "Staff member or window", "pledge_title": "Pledge",
    "pledge_items": "Items (one per line)", "pledge_item": "Item", "evidence": "Evidence",
    "no_pledges": "No pledges yet", "public_pledges": "Pledges and how they were kept", "public_awards": "Star windows and the red flag",
    "col_kind": "Kind", "col_unit": "Unit", "col_citizens": "Citizens", "col_ratings": "Ratings",
    "col_peers": "Peers", "col_reviewers": "Reviewers", "col_leaders": "Leaders",
    "col_composite": "Composite", "col_weights": "Weights used", "col_stars": "Stars", "col_award": "Red flag",
    "unpublish": "Take back", "unpublished_ok": "Taken back: the period's results are live again; kiosks stop showing its stars at their next sync.",
    "unpublish_confirm": "Taking back unfreezes the period's results and removes its stars and red flag from the kiosks; reviews and comments reopen while the period is still taken. Take back?",
    "publish_after": "can be published after {end}",
    "citizens_too_few": "fewer than {n} ratings: not shown",
})
# Each user's own account page.
ZH.update({
    "account": "修改密码", "change_password": "修改密码", "current_password": "当前密码",
    "new_password": "新密码", "new_password_again": "再次输入新密码",
    "password_rule": "至少 {n} 个字符", "password_changed": "密码已修改，其他已登录的设备已退出。",
    "password_wrong": "当前密码不正确。", "password_mismatch": "两次输入的新密码不一致。",
    "password_short": "新密码至少需要 {n} 个字符。", "password_same": "新密码不能与当前密码相同。",
})
EN.update({
    "account": "Password", "change_password": "Change password", "current_password": "Current password",
    "new_password": "New password", "new_password_again": "New password again",
    "password_rule": "at least {n} characters",
    "password_changed": "Password changed; your other sessions were signed out.",
    "password_wrong": "The current password is wrong.", "password_mismatch": "The two new passwords differ.",
    "password_short": "The new password needs at least {n} characters.",
    "password_same": "The new password must differ from the current one.",
})
# Punctuation between the parts of a sentence built in a template: full-width in Chinese,
# ASCII with spaces in English (English pages showed "Scope：" and "（vs previous …）").
ZH.update({"p_colon": "：", "p_comma": "，", "p_semicolon": "；", "p_stop": "。", "p_open": "（",
           "p_close": "）", "p_list": "、", "p_gap": "　"})
EN.update({"p_colon": ": ", "p_comma": ", ", "p_semicolon": "; ", "p_stop": ".", "p_open": " (",
           "p_close": ")", "p_list": ", ", "p_gap": "  "})
ZH.update(i18n_manage.ZH)
EN.update(i18n_manage.EN)
ZH.update(i18n_export.ZH)
EN.update(i18n_export.EN)
ZH.update(i18n_alerts.ZH)
EN.update(i18n_alerts.EN)
ZH.update(i18n_problems.ZH)
EN.update(i18n_problems.EN)
ZH.update(i18n_refusals.ZH)
EN.update(i18n_refusals.EN)
# The assessment's refusals of a quarter, of a month under way on a staff member's own
# results page, of publishing a published unit again and of a weight out of range, and
# the peer part held back while colleagues may still review.
ZH.update({
    "problem_period_month_only": "考核按月进行，考核期应为年-月（如 2026-05），不受理 {period}",
    "problem_results_not_ended": "考核期 {period} 尚未结束，{end} 结束后才能查看本期个人结果",
    "problem_already_published": "考核期 {period} 的结果已发布；如需重新发布，请先撤回发布",
    "problem_weight_range": "「{zh}」的权重须为 0 至 {max} 之间的数（现为 {value}）",
    "peers_pending": "同事互评尚在受理，本单位发布结果或下月结束后显示互评得分及综合得分",
})
EN.update({
    "problem_period_month_only": "The assessment is by month: the period must be a month (YYYY-MM, e.g. 2026-05), not {period}",
    "problem_results_not_ended": "Period {period} has not ended; your results of it can be seen after {end}",
    "problem_already_published": "The results of {period} are published already; take them back before publishing again",
    "problem_weight_range": "The weight of '{en}' must be a number from 0 to {max}, got {value}",
    "peers_pending": "Colleagues may still review for this period: the peer part and the composite are shown once your unit publishes it or next month ends",
})
# Integrity alerts by kind (constants.ALERT_KINDS) and severity: the overview showed the
# codes ("device_silent", "medium") on the Chinese page.
ZH.update({"alert_conflict": "同一记录内容不一致", "alert_chain_break": "记录链断裂",
           "alert_seq_gap": "记录缺号", "alert_new_stream": "设备数据库重建",
           "alert_db_recovered": "设备数据库已修复", "alert_clock_offset": "设备时钟偏差",
           "alert_no_staff": "无人在岗时的评价", "alert_burst": "短时间内连续评价",
           "alert_zero_bad": "长期零差评", "alert_device_silent": "设备长时间未通信",
           "alert_after_revocation": "停用后产生的评价",
           "sev_high": "高", "sev_medium": "中", "sev_low": "低",
           "no_ratings_period": "本期无有效评价"})
EN.update({"alert_conflict": "Same record, different content", "alert_chain_break": "Broken chain",
           "alert_seq_gap": "Missing records", "alert_new_stream": "Device database restarted",
           "alert_db_recovered": "Device database recovered", "alert_clock_offset": "Clock offset",
           "alert_no_staff": "Ratings with nobody signed in", "alert_burst": "Burst of ratings",
           "alert_zero_bad": "No bad rating for long", "alert_device_silent": "Device silent",
           "alert_after_revocation": "Ratings after revocation",
           "sev_high": "high", "sev_medium": "medium", "sev_low": "low",
           "no_ratings_period": "no counted rating"})
# Times and durations on the devices page (it showed "12 min", "3.5 h", "+845 s" on the
# Chinese page).
ZH.update({"ago_min": "{n} 分钟前", "ago_h": "{n} 小时前", "ago_d": "{n} 天前", "n_seconds": "{n} 秒"})
EN.update({"ago_min": "{n} min ago", "ago_h": "{n} h ago", "ago_d": "{n} d ago", "n_seconds": "{n} s"})
# a kiosk's databases moved aside as corrupt (its heartbeat, docs/protocol.md §3)
ZH.update({"moved_pending": "另有 {n} 条在移走的旧数据库中",
           "moved_skipped": "{n} 个移走的旧数据库无法自动上传，需技术员用 U 盘导出"})
EN.update({"moved_pending": "+{n} in a moved-aside database",
           "moved_skipped": "{n} moved-aside database(s) cannot be sent: a technician's USB "
                            "export is needed"})
# Rankings and the public page: a row listed without a place ("（未登记）"), and the public
# page's minimum of ratings before a rate is published.
ZH.update({"not_ranked": "不参与排名", "public_too_few": "评价不足 {n} 条，暂不公布",
           "public_for_others": "暂不公布（其余窗口合计评价不足 {n} 条，公布会推知其评价）",
           "public_min_note": "评价不足 {n} 条的月份和窗口不公布满意率和差评数，以免推知个人的评价。"})
EN.update({"not_ranked": "not ranked", "public_too_few": "fewer than {n} ratings: not published",
           "public_for_others": "not published (the other windows have fewer than {n} ratings between them, which it would reveal)",
           "public_min_note": "Months and windows with fewer than {n} ratings show no rate and "
                              "no bad-rating count, so that no one's rating can be told."})
# Rankings: a row of fewer than MIN_VOLUME counted ratings is listed without a place or a
# target judgement, and the page says why; the public page publishes completed months only
# (the month under way moved with each rating: a staff member could see a citizen's choice).
ZH.update({"too_few_ranked": "评价少于 {n} 条，不参与排名",
           "too_few_ranked_rows": "评价少于 {n} 条，不参与排名、不作达标判断",
           "public_month_pending": "本月数据将于月底后公布",
           "window_rated_in": "本期评价所在单位"})
EN.update({"too_few_ranked": "Fewer than {n} ratings: not ranked",
           "too_few_ranked_rows": "Fewer than {n} ratings: not ranked and not held to the target",
           "public_month_pending": "This month's figures are published after it ends",
           "window_rated_in": "Rated this period at"})
# A real-name bad rating not called back yet (100 % 回访): the case and the queue say so.
ZH.update({"callback_needed": "待回访", "state_callback": "待回访",
           "callback_needed_hint": "群众留下电话并同意回访，尚无回访记录；登记回访后才能办结"})
EN.update({"callback_needed": "Callback due", "state_callback": "Callback due",
           "callback_needed_hint": "The citizen left a number and asked to be called back; no callback is recorded yet, and the case cannot be closed before one is"})
CATALOG = {"zh_CN": ZH, "en": EN}


class translator:  # noqa: N801 - used like a function in templates: t("key")
    """``t = translator("en"); t("rate")`` → "Satisfaction"; unknown keys come back as is."""

    def __init__(self, lang: str):
        self.lang = lang if lang in CATALOG else "zh_CN"
        self.messages = CATALOG[self.lang]
        self.reason_names = C.REASON_NAMES_EN if self.lang == "en" else C.REASON_NAMES_ZH
        self.level_names = C.LEVEL_NAMES_EN if self.lang == "en" else C.LEVEL_NAMES_ZH

    def __call__(self, key: str, **values) -> str:
        text = self.messages.get(key) or ZH.get(key) or key
        return text.format(**values) if values else text
# The case workflow: a callback's own deadline, owed on a closed case too (a number left
# after the case was closed); the unit's clocks stopped while an appeal is with a supervisor;
# a deactivated assignee named as such.
ZH.update({"overdue_callback": "回访超期", "callback_due": "回访时限", "callback_done": "已回访",
           "callback_needed_closed_hint": "工单办结后群众留下电话并同意回访，尚无回访记录；请登记回访",
           "audit_callback_requested": "群众留下电话要求回访",
           "appeal_clocks_paused": "申诉审核期间暂停计时，不计超期；申诉被驳回或撤销认定后，各项时限按审核所用工作日顺延",
           "deadlines_moved": "时限顺延 {n} 个工作日",
           "account_deactivated_suffix": "（已停用）",
           "assignee_inactive_hint": "承办人账号已停用，无法登录办理，请改派他人",
           "assignment_released": "账号停用，取消指派"})
EN.update({"overdue_callback": "Callback overdue", "callback_due": "Call back by",
           "callback_done": "called back",
           "callback_needed_closed_hint": "The citizen left a number and asked to be called back after the case was closed; no callback is recorded yet: record it",
           "audit_callback_requested": "Citizen asked to be called back",
           "appeal_clocks_paused": "The clocks stop while a supervisor decides the appeal: not overdue now; if the appeal is rejected or revoked, the deadlines move later by the working days it took",
           "deadlines_moved": "deadlines {n} working days later",
           "account_deactivated_suffix": " (deactivated)",
           "assignee_inactive_hint": "The assignee's account is deactivated and cannot sign in to work the case: assign someone else",
           "assignment_released": "account deactivated, unassigned"})
