"""Catalog entries of the management pages: service items, roster files, pledge corrections,
the account list, enrolment codes. ``i18n.py`` merges them into its zh_CN and en catalogs."""

from __future__ import annotations

ZH = {
    # service items (事项)
    "item_in_use": "在用", "item_retired": "已停用", "item_retire": "停用事项",
    "item_restore": "恢复使用", "cancel": "取消", "item_overwrite": "覆盖原事项",
    "item_retire_confirm": "停用事项 {code}「{name}」？终端将不再显示它；历史评价和排名中仍保留其名称，可随时恢复。",
    "item_retire_hint": "停用后终端不再显示该事项，历史评价与排名不受影响。",
    "item_exists": "事项编码 {code} 已存在：「{name}」，时限 {limit}，单位 {unit}。",
    "item_exists_retired": "（该事项已停用，覆盖后将恢复使用。）",
    "item_overwrite_q": "是否用「{name}」（时限 {limit}，单位 {unit}）覆盖它？如只是新增事项，请换一个编码。",
    # roster files
    "import_file_type": "文件「{file}」的类型不受支持，未做任何修改。请上传 {types} 格式的花名册。",
    "import_unreadable": "文件「{file}」无法读取（文件已损坏或与扩展名不符），未做任何修改。请上传 {types} 格式的花名册。",
    "import_too_large": "文件「{file}」超过 {mb} MB，未做任何修改。请上传 {types} 格式、不超过 {mb} MB 的花名册。",
    "import_more_problems": "另有 {n} 个问题未列出；改正以上问题后再次导入，即可看到其余问题。",
    # pledges
    "pledge_correct": "更正", "pledge_withdraw": "撤回承诺", "pledge_add_items": "追加事项（每行一项）",
    "pledge_withdraw_confirm": "撤回这条承诺？撤回后不再公示、不再发送到终端，也不计入践诺率；审计日志保留原内容。",
    "pledge_withdrawn": "承诺已撤回。", "pledge_corrected": "承诺已更正，终端将在下次同步时更新。",
    # accounts
    "users": "账号管理", "last_login": "最近登录", "never_signed_in": "从未登录",
    "account_state": "状态", "account_active": "启用", "account_inactive": "已停用",
    "deactivate": "停用", "activate": "启用", "you": "本人",
    "deactivate_confirm": "停用账号 {u}？其登录会话立即结束，操作记录保留。",
    "user_deactivated": "账号 {u} 已停用，其登录会话已结束。", "user_activated": "账号 {u} 已启用。",
    "cannot_deactivate_self": "不能停用自己正在使用的账号。",
    "cannot_deactivate_last_admin": "不能停用最后一个启用的系统管理员账号，否则将无人能管理系统。",
    "cannot_manage_user": "您无权更改该账号。",
    "users_hint": "新建账号与重置密码请使用命令行 aggregator create-user / set-password；登录被锁定的账号可用 aggregator unlock-user 解锁。",
    "must_change_password": "您的密码由他人设置（开通账号或重置密码时）。请先设置一个只有您自己知道的新密码，之后才能使用其他功能。",
    "lang_zh_CN": "中文", "lang_en": "English", "display_name": "姓名", "role": "角色",
    # enrolment codes (devices page, code_view)
    "code_used": "此注册码已被使用。", "code_expired": "此注册码已过期。",
    "code_gone": "这个注册码不再显示：它只在生成它的登录会话中显示一小时，重新载入页面不会生成新码。如仍需注册码，请在下方重新生成。",
    # roster: a pledge longer than the kiosk's idle screen shows (roster.KIOSK_PLEDGE_CHARS)
    "pledge_long_row": "第 {row} 行：服务承诺共 {length} 字，终端待机页只显示约前 {shown} 字，其余以“…”省略。",
    "font_missing_row": "第 {row} 行「{column}」列：{chars} 终端字体里没有，窗口屏幕上会显示为空方框；请改用常用字或联系维护方扩充字体。",
    "pledge_kiosk_hint": "终端待机页约显示前 68 字（4 行），更长的以“…”省略。",
    # roster: a staff member stored without a unit (only an admin's roster lists them)
    "no_unit": "未分配单位",
    "no_unit_hint": "此人尚未分配单位，任何终端都不会显示。请填写单位并保存，之后即可选择窗口。",
}

EN = {
    "item_in_use": "In use", "item_retired": "Retired", "item_retire": "Retire item",
    "item_restore": "Use again", "cancel": "Cancel", "item_overwrite": "Overwrite the item",
    "item_retire_confirm": "Retire item {code} \"{name}\"? Kiosks stop showing it; past ratings and rankings keep its name, and you can use it again at any time.",
    "item_retire_hint": "A retired item leaves the kiosks; past ratings and rankings keep it.",
    "item_exists": "Item code {code} already exists: \"{name}\", time limit {limit}, unit {unit}.",
    "item_exists_retired": "(It is retired; overwriting puts it back in use.)",
    "item_overwrite_q": "Overwrite it with \"{name}\" (time limit {limit}, unit {unit})? To add a new item, choose another code.",
    "import_file_type": "The file \"{file}\" is not a supported type; nothing was changed. Upload the roster as {types}.",
    "import_unreadable": "The file \"{file}\" cannot be read (damaged, or not what its extension says); nothing was changed. Upload the roster as {types}.",
    "import_too_large": "The file \"{file}\" is over {mb} MB; nothing was changed. Upload the roster as {types}, at most {mb} MB.",
    "import_more_problems": "{n} more not listed; correct the ones above and import again to see the rest.",
    "pledge_correct": "Correct", "pledge_withdraw": "Withdraw pledge", "pledge_add_items": "Add items (one per line)",
    "pledge_withdraw_confirm": "Withdraw this pledge? It is no longer shown publicly or sent to the kiosks and no longer counts in the fulfilment rate; the audit log keeps what it said.",
    "pledge_withdrawn": "Pledge withdrawn.", "pledge_corrected": "Pledge corrected; kiosks update at their next sync.",
    "users": "Accounts", "last_login": "Last sign-in", "never_signed_in": "Never",
    "account_state": "State", "account_active": "Active", "account_inactive": "Deactivated",
    "deactivate": "Deactivate", "activate": "Activate", "you": "you",
    "deactivate_confirm": "Deactivate {u}? Their sessions end at once; what they did stays in the audit log.",
    "user_deactivated": "{u} is deactivated and signed out.", "user_activated": "{u} may sign in again.",
    "cannot_deactivate_self": "You cannot deactivate the account you are using.",
    "cannot_deactivate_last_admin": "You cannot deactivate the last active administrator: no one could manage the system.",
    "cannot_manage_user": "You may not change this account.",
    "users_hint": "Create accounts and reset passwords with aggregator create-user / set-password; aggregator unlock-user lifts a sign-in lock.",
    "must_change_password": "Your password was set by someone else (when the account was made or reset). Choose a new one only you know before using anything else.",
    "lang_zh_CN": "中文", "lang_en": "English", "display_name": "Name", "role": "Role",
    # enrolment codes (devices page, code_view)
    "code_used": "This code has been used.", "code_expired": "This code has expired.",
    "code_gone": "This enrolment code is no longer shown: it is shown for an hour, only in the session that made it, and reloading the page makes no new code. If you still need one, issue a new code below.",
    # roster: a pledge longer than the kiosk's idle screen shows (roster.KIOSK_PLEDGE_CHARS)
    "pledge_long_row": "Row {row}: the pledge has {length} characters; the kiosk's idle screen shows about the first {shown} and ends the rest in '…'.",
    "font_missing_row": "Row {row}, column '{column}': {chars} cannot be drawn by the kiosk's font and show as empty boxes on the window's screen; use a common character or ask for a wider font.",
    "pledge_kiosk_hint": "The kiosk's idle screen shows about the first 68 characters (4 lines); the rest ends in '…'.",
    "no_unit": "No unit",
    "no_unit_hint": "This person has no unit, so no kiosk shows them. Enter a unit and save; then you can choose a window.",
}
