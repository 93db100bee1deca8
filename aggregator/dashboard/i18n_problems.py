"""Problems of a roster file and of the staff form in the page's language: one template per
message (``problem_<msg>``, or ``problem_<msg>_<field>`` where the field changes the words),
filled from the values a refusal keeps (``roster.Problem.args``, ``BadRequest.detail_args``
from ``org``). ``i18n.py`` merges the templates into its zh_CN and en catalogs; those of the
other forms' refusals are in ``i18n_refusals.py``, filled the same way.

A row's problem names the row and the column as the file names it (工号, or staff_no); a form's
names the field by the form's own label. A problem without values, or whose values do not fit
its template, shows its English sentence: a clerk sees something true rather than nothing.

>>> from aggregator.dashboard.i18n import translator
>>> args = {"msg": "too_long", "row": 5, "field": "staff_no", "column": "工号", "limit": 32,
...         "length": 40}
>>> str(problem_text({"text": "row 5, column 'staff_no': …", "args": args}, translator("zh_CN")))
'第 5 行「工号」列：不能超过 32 个字符（现为 40 个）'
"""

from __future__ import annotations

from markupsafe import Markup

from ..org import CONTROL
from ..roster import CHINESE

ZH = {
    # where: a row and a column of the file, a row, a field of the form
    "problem_at": "第 {row} 行「{column}」列：{problem}",
    "problem_at_row": "第 {row} 行：{problem}",
    "problem_at_field": "{column}：{problem}",
    # a value (org.py)
    "problem_choice": "应为 {choices} 之一（现为「{value}」）",
    "problem_bool": "应填“是”或“否”（现为「{value}」）",
    "problem_integer": "应为整数（现为「{value}」）",
    "problem_range": "应在 {lo} 到 {hi} 之间（现为 {value}）",
    "problem_not_text": "应为文字（现为「{value}」）",
    "problem_too_long": "不能超过 {limit} 个字符（现为 {length} 个）",
    "problem_control": "第 {position} 个字符是看不见的控制字符（{char}），请删去",
    "problem_id_char": "编号不能含有「{char}」（编号是网页地址的一部分），现为「{value}」",
    "problem_required": "不能为空",
    "problem_pin_digits": "应为 4 到 12 位数字 0–9（终端键盘只能输入这些；全角数字、字母和空格不行）",
    "problem_pin_hash_form": "不是终端能校验的密码散列（应为 pbkdf2_sha256，迭代 1,000 到 1,000,000 次）",
    "problem_unknown_field": "没有「{field}」这一项；可用的有：{known}",
    "problem_missing_ref": "{value} 不存在",
    "problem_missing_ref_unit_id": "单位 {value} 不存在",
    "problem_missing_ref_window_id": "窗口 {value} 不存在",
    "problem_missing_ref_region_id": "地区 {value} 不存在",
    "problem_missing_ref_parent_id": "上级地区 {value} 不存在",
    "problem_window_other_unit": "窗口 {value} 属于单位 {window_unit}，不属于单位 {unit}",
    "problem_window_without_unit": "窗口 {value} 属于单位 {window_unit}，此人却没有填写单位",
    "problem_sign_in_taken": "{value} 已是在岗人员 {other_name}（{other}）的工牌，终端签到时会认成 {other_name}",
    "problem_sign_in_taken_staff_no": "{value} 已是本单位在岗人员 {other_name}（{other}）的工号，终端签到时会认成 {other_name}",
    # a roster file (roster.py) and the scope (routes_admin.py)
    "problem_empty_file": "文件「{file}」是空的",
    "problem_unknown_column": "不认识的列「{name}」；可用的列：{known}",
    "problem_columns_required": "缺少必需的列（{missing}）",
    "problem_duplicate": "{value} 与第 {first} 行重复",
    "problem_duplicate_sign_in": "{value} 与第 {first} 行重复，终端签到时会认成第 {first} 行的人员",
    "problem_too_many_rows": "文件超过 {max} 行，请分成几个文件导入",
    "problem_duplicate_column": "列「{name}」与列「{other}」是同一项，请只保留一列",
    "problem_formula_error": "单元格是公式的错误值 {value}，请在 Excel 中改正公式或直接填写内容",
    "problem_no_column_name": "第 {position} 列有内容，但第 1 行没有列名",
    "problem_long_number": "超过 15 位的数字在 Excel 中会丢失末几位，请把这一列设为“文本”格式后重新输入",
    "problem_date_cell": "单元格是日期或时间（{value}），Excel 会把 1-2、3/4 这样的输入改成日期；请把这一列设为“文本”格式后重新输入",
    "problem_unit_outside_scope": "单位 {value} 不在您的管理范围内",
    "problem_unit_missing": "未填写单位（须是您管理范围内的单位）",
    "problem_staff_outside_scope": "人员 {value} 属于您管理范围以外的单位",
    "problem_window_not_of_unit": "窗口 {value} 属于其他单位",
    # headings and whole-file refusals on the roster page
    "staff_not_saved": "未保存对 {name} 的修改：",
    "import_not_text": "文件「{file}」不是 UTF-8 或 GB18030 编码的文本，未做任何修改。请在 Excel 中另存为“CSV UTF-8（逗号分隔）”或 .xlsx 后再导入。",
}
EN = {
    "problem_at": "Row {row}, column '{column}': {problem}",
    "problem_at_row": "Row {row}: {problem}",
    "problem_at_field": "{column}: {problem}",
    "problem_choice": "must be one of {choices}, got '{value}'",
    "problem_bool": "must be yes or no (true/false, 1/0), got '{value}'",
    "problem_integer": "must be a whole number, got '{value}'",
    "problem_range": "must be between {lo} and {hi}, got {value}",
    "problem_not_text": "must be text, got '{value}'",
    "problem_too_long": "must be at most {limit} characters long, got {length}",
    "problem_control": "character {position} is an invisible control character ({char}); delete it",
    "problem_id_char": "an id must not contain '{char}' (it is part of web addresses), got '{value}'",
    "problem_required": "must not be empty",
    "problem_pin_digits": "must be 4 to 12 digits 0-9 (what the kiosk keypad types; no full-width digits, letters or spaces)",
    "problem_pin_hash_form": "is not a hash the kiosk checks (a pbkdf2_sha256 hash of 1,000 to 1,000,000 iterations)",
    "problem_unknown_field": "unknown field '{field}'; known: {known}",
    "problem_missing_ref": "{value} does not exist",
    "problem_missing_ref_unit_id": "unit {value} does not exist",
    "problem_missing_ref_window_id": "window {value} does not exist",
    "problem_missing_ref_region_id": "region {value} does not exist",
    "problem_missing_ref_parent_id": "parent region {value} does not exist",
    "problem_window_other_unit": "window {value} belongs to unit {window_unit}, not to unit {unit}",
    "problem_window_without_unit": "window {value} belongs to unit {window_unit}, and this person has no unit",
    "problem_sign_in_taken": "{value} is already the badge of {other_name} ({other}), who is active: a kiosk would sign this person in as {other_name}",
    "problem_sign_in_taken_staff_no": "{value} is already the staff number of {other_name} ({other}), active in the same unit: a kiosk would sign this person in as {other_name}",
    "problem_empty_file": "the file \"{file}\" is empty",
    "problem_unknown_column": "unknown column '{name}'; known: {known}",
    "problem_columns_required": "required columns missing ({missing})",
    "problem_duplicate": "{value} is also in row {first}",
    "problem_duplicate_sign_in": "{value} is also in row {first}: a kiosk would sign this person in as the one in row {first}",
    "problem_too_many_rows": "more than {max} rows; split the file",
    "problem_duplicate_column": "column '{name}' is the same as column '{other}'; keep one of them",
    "problem_formula_error": "the cell holds the formula error {value}; correct the formula in Excel or type the value",
    "problem_no_column_name": "column {position} has a value but no name in row 1",
    "problem_long_number": "a number of more than 15 digits loses its last digits in Excel; format the column as text and type it again",
    "problem_date_cell": "the cell is a date or time ({value}); Excel turns what is typed as 1-2 or 3/4 into a date; format the column as text and type it again",
    "problem_unit_outside_scope": "unit {value} is outside your scope",
    "problem_unit_missing": "no unit given (it must be a unit within your scope)",
    "problem_staff_outside_scope": "staff {value} belongs to a unit outside your scope",
    "problem_window_not_of_unit": "window {value} belongs to another unit",
    "staff_not_saved": "Changes to {name} not saved:",
    "import_not_text": "The file \"{file}\" is not UTF-8 or GB18030 text; nothing was changed. In Excel, save it as \"CSV UTF-8 (Comma delimited)\" or as .xlsx and import it again.",
}

# Messages whose words name what they are about ("窗口 W-9 不存在"): where the file has no
# such column (the value was the stored one) or on the form, no column is named before them.
SELF_NAMED = frozenset({"missing_ref", "window_other_unit", "window_without_unit",
                        "unit_outside_scope", "unit_missing", "staff_outside_scope",
                        "window_not_of_unit", "unknown_field"})
# The staff form's label of each field (its catalog key), as the form shows it.
FORM_LABELS = {"name": "name", "staff_no": "staff_no", "post": "post", "pledge": "pledge",
               "stars": "stars", "window_id": "window", "unit_id": "unit",
               "party_member": "party_member", "active": "active", "code": "code",
               "time_limit": "time_limit",
               # the other forms' fields a refusal names (i18n_refusals.py)
               "title": "pledge_title", "items": "pledge_item", "comment": "comment",
               "day": "callback_day", "from": "date_from", "to": "date_to",
               "username": "username", "password": "password", "holidays": "holidays",
               "workdays": "workdays", "thresholds": "thresholds", "criteria": "criteria"}
# Values that are a key the pages show by its label: a case's state and an action (the
# button's words), a pledge item's status.
LABELLED = {"state": "state_", "action": "action_", "status": "status_"}
LISTS_OF_FIELDS = frozenset({"known", "missing"})   # shown by their column names
LONGEST = 40   # characters of a typed value shown; the rest is "…"


def _column_name(field: str, t) -> str:
    """The column a file in the page's language has for ``field`` (工号, or staff_no)."""
    return field if t.lang == "en" else CHINESE.get(field, field)


def _value(name: str, value, t) -> str:
    if name in LABELLED and f"{LABELLED[name]}{value}" in t.messages:
        return t(f"{LABELLED[name]}{value}")
    if isinstance(value, (list, tuple)):
        items = [_column_name(str(v), t) if name in LISTS_OF_FIELDS else str(v) for v in value]
        return t("p_list").join(items)
    if value is None:
        return "—"
    text = CONTROL.sub("\N{REPLACEMENT CHARACTER}", str(value))
    return text if len(text) <= LONGEST else text[:LONGEST] + "…"


def _parts(problem) -> tuple[str, dict]:
    """(English text, values) of a ``roster.Problem``, an ``AggregatorError``, or a dict of
    ``text`` and ``args``; text already in the page's language has no values."""
    if isinstance(problem, dict):
        return str(problem.get("text", "")), problem.get("args") or {}
    if hasattr(problem, "detail_args"):
        return problem.detail, problem.detail_args or {}
    return str(problem), getattr(problem, "args", None) or {}


def problem_text(problem, t) -> Markup | str:
    """``problem`` in ``t``'s language, naming its row and column (a file's) or its field (a
    form's); its English text when it has no values or they do not fit."""
    text, args = _parts(problem)
    try:
        msg, field, row = args["msg"], args.get("field"), args.get("row")
        template = t.messages.get(f"problem_{msg}_{field}") or t.messages.get(f"problem_{msg}")
        if not template:
            return text
        values = {k: _value(k, v, t) for k, v in args.items()
                  if k not in ("msg", "row", "column", "field")}
        if msg == "unknown_field":
            values["field"] = _value("field", field, t)
        body = Markup(template).format(**values)
        column = args.get("column")
        if field and not column and msg not in SELF_NAMED:
            column = t(FORM_LABELS[field]) if row is None and field in FORM_LABELS \
                else _column_name(field, t)
        if not column or (msg in SELF_NAMED and not args.get("column")):
            return Markup(t.messages["problem_at_row"]).format(row=row, problem=body) \
                if row is not None else body
        where = "problem_at" if row is not None else "problem_at_field"
        return Markup(t.messages[where]).format(row=row, column=column, problem=body)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return text
