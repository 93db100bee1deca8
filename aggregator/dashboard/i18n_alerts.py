"""Alert details in the page's language: one template per message (``alertd_<msg>``),
filled from the values an alert keeps in ``detail_args`` (migration 46, ``alerts.raise_alert``).
``i18n.py`` merges the templates into its zh_CN and en catalogs, with the words of the alerts
page (``alerts_*``, ``routes_alerts.py``) and the refusals of its form (``problem_alert_*``,
told by ``i18n_problems.problem_text``).

An alert raised before migration 46, or one whose values do not fit its template, shows its
stored English ``detail``: a supervisor sees something true rather than nothing.

Values a supervisor cannot read either way (a validation reason, a device's error text, event
and stream ids) stay as they came, set apart in ``<code>``; times are shown in the site's
time zone, windows by name.

>>> from aggregator.dashboard.i18n import translator
>>> import datetime as dt
>>> alert = {"kind": "clock_offset", "detail": "device k1 clock is +845 s off",
...          "detail_args": '{"msg": "clock_behind", "device": "k1", "seconds": 845}'}
>>> str(alert_detail(alert, translator("zh_CN"), dt.timezone.utc))
'设备 k1 时钟慢 845 秒（约 14 分钟）'
"""

from __future__ import annotations

import datetime as dt
import json

from markupsafe import Markup

ZH = {
    "alertd_clock_behind": "设备 {device} 时钟慢 {seconds}",
    "alertd_clock_ahead": "设备 {device} 时钟快 {seconds}",
    "alertd_clock_future": "设备 {device} 上传的记录时间为 {device_time}，晚于服务器当前时间（设备时钟偏快）",
    "alertd_conflict": "设备 {device} 发来的记录 {event}（记录流 {stream} 第 {seq} 条）与已收到的同一记录内容不同，"
                       "已隔离，原记录未改动。原因：{reason}",
    "alertd_chain_break": "设备 {device} 记录流 {stream} 第 {seq} 条与前后记录的校验链接不上，已拒收并隔离。原因：{reason}",
    "alertd_db_recovered": "设备 {device} 的本地数据库损坏，已移至一旁并新建记录流 {stream}（原记录流 {old_stream}）。"
                           "错误：{error}",
    "alertd_after_revocation": "设备 {device} 已于 {revoked_at} 停用，其 U 盘导出数据中有停用后记录的评价（最早一条 "
                               "{first_at}）：已收下并标记为可疑，默认不计入满意率",
    "alertd_burst": "设备 {device}（{window}）{day} 有评价因短时间内连续按下被标记为可疑",
    "alertd_no_staff": "设备 {device}（{window}）{day} 有评价产生于无人登录在岗时，已标记为可疑",
    "alertd_burst_qr": "{window} {day} 有 {n} 条扫码评价来自同一网络地址、距上一条不足 {interval} 秒，已标记为可疑",
    "alertd_new_stream": "设备 {device} 在已知的 {known} 个记录流之外新建了记录流 {stream}（设备数据库可能被更换）",
    "alertd_seq_gap": "设备 {device} 记录流 {stream} 第 {after} 条之后的记录缺失已超过 {hours} 小时"
                      "（已收到的最大序号为 {max_seq}）",
    "alertd_device_silent": "设备 {device}（{window}）自 {since_at} 起未与服务器联系",
    "alertd_zero_bad": "{window} 截至 {to} 的 {days} 天内有 {n} 条评价，没有一条差评",
    "alertd_backlog_stuck": "设备 {device}（{window}）与服务器联系正常，但有 {pending} 条评价自 {since_at} "
                            "起一直未上传",
    "alertd_flagged_bad": "{window} {day} 有 {n} 条差评被标记为可疑、未计入满意率（如连按锁定期内的差评），"
                          "请核实是否有人抢先代按",
    "alertd_volume": "{window} {day} 有 {n} 条有效评价，远高于平时（此前 {days} 天中有评价的日子日均 {mean} 条）",
    "alertd_volume_qr": "{window} {day} 有 {n} 条有效扫码评价，远高于平时（此前 {days} 天日均 {mean} 条）",
    "alert_backlog_stuck": "评价长期未上传", "alert_flagged_bad": "可疑差评",
    "alert_volume": "评价量异常",
    "alertd_device_fault": "设备 {device}（{window}）能与服务器联系，但报告：{problem}。技术信息：{error}",
    "alert_device_fault": "设备无法记录评价",
    "alertd_window": "窗口 {id}", "alertd_window_named": "{name} {id}",
    "alertd_seconds": "{n} 秒", "alertd_minutes": "{n} 秒（约 {m} 分钟）",
    "alertd_hours": "{n} 秒（约 {m} 小时）", "alertd_days": "{n} 秒（约 {m} 天）",
    # the alerts page (routes_alerts.py) and the overview's link to it
    "alerts_tab_open": "未处理", "alerts_tab_resolved": "已解除", "alerts_tab_all": "全部",
    "alerts_all": "全部预警（未处理 {n} 条）",
    "alerts_kind": "类型", "alerts_any_kind": "全部类型",
    "alerts_severity": "级别", "alerts_any_severity": "全部级别",
    "alerts_raised_at": "产生时间", "alerts_handling": "处理情况",
    "alerts_resolved_by": "{name} 解除", "alerts_resolved_by_scan": "自动解除（巡检确认已恢复）",
    "alerts_resolve": "解除预警", "alerts_note": "处理说明（必填）",
    "alerts_note_example": "如：已核实为设备故障，已更换",
    "alerts_note_hint": "写明核实了什么、如何处理，最多 {n} 字；记入操作日志，不能撤回。",
    "alerts_resolve_submit": "确认解除",
    "alerts_resolved_ok": "预警 #{id} 已解除，处理说明已记入操作日志。",
    "alerts_none": "没有符合条件的预警",
    "alerts_none_open": "无未处理预警",
    "alerts_who_resolves": "记录缺号、设备长时间未通信、设备无法记录评价、评价长期未上传四类预警在恢复后由每小时的巡检自动解除；"
                           "其余预警须由监管人员或系统管理员核实后写明理由解除，被预警单位的负责人不能自行解除。",
    # refusals of the resolve form
    "problem_alert_note_required": "处理说明不能为空：请写明解除的理由（核实了什么、如何处理）",
    "problem_alert_note_too_long": "处理说明不能超过 {limit} 个字符（现为 {length} 个）",
    "problem_alert_resolved_already": "预警 #{id} 已于 {at} 解除，无需再次解除",
    "problem_alert_resolver_role": "只有监管人员和系统管理员可以解除预警：被预警单位的负责人不能自行解除",
}
EN = {
    "alertd_clock_behind": "device {device} clock is {seconds} behind server time",
    "alertd_clock_ahead": "device {device} clock is {seconds} ahead of server time",
    "alertd_clock_future": "device {device} recorded events dated {device_time}, in the future of "
                           "server time (its clock is fast)",
    "alertd_conflict": "device {device} sent event {event} (stream {stream} seq {seq}) with other content "
                       "than the stored one; quarantined, the stored one unchanged. Reason: {reason}",
    "alertd_chain_break": "device {device} stream {stream} seq {seq} does not chain to its neighbours; "
                          "rejected and quarantined. Reason: {reason}",
    "alertd_db_recovered": "device {device} moved a corrupt database aside and started stream {stream} "
                           "(old stream {old_stream}). Error: {error}",
    "alertd_after_revocation": "device {device} was revoked at {revoked_at}; its USB export holds ratings "
                               "recorded after that (the first {first_at}): taken, flagged, and "
                               "left out of rates unless flagged ratings are included",
    "alertd_burst": "device {device} ({window}): ratings on {day} flagged as a burst of presses",
    "alertd_no_staff": "device {device} ({window}): ratings on {day} made with nobody signed in, "
                       "flagged",
    "alertd_burst_qr": "{window}: {n} QR ratings on {day} came from one address within {interval} s "
                       "of its last; flagged",
    "alertd_new_stream": "device {device} started a new stream {stream} besides {known} known "
                         "(kiosk database replaced?)",
    "alertd_seq_gap": "device {device} stream {stream}: records after seq {after} missing for more "
                      "than {hours} h (highest seq received {max_seq})",
    "alertd_device_silent": "device {device} ({window}) silent since {since_at}",
    "alertd_zero_bad": "{window}: {n} ratings in the {days} days to {to} and not one bad rating",
    "alertd_backlog_stuck": "device {device} ({window}) is heard from but holds {pending} ratings "
                            "not uploaded since {since_at}",
    "alertd_flagged_bad": "{window}: {n} bad ratings on {day} were flagged and left out of the "
                          "rates (e.g. pressed within the lockout); check whether someone pressed "
                          "before the citizen",
    "alertd_volume": "{window}: {n} unflagged ratings on {day}, far above usual (a mean of {mean} "
                     "on the days with ratings of the {days} before)",
    "alertd_volume_qr": "{window}: {n} unflagged QR ratings on {day}, far above usual (a mean of "
                        "{mean} a day over the {days} days before)",
    "alert_backlog_stuck": "Ratings not uploaded", "alert_flagged_bad": "Flagged bad ratings",
    "alert_volume": "Unusual number of ratings",
    "alertd_device_fault": "device {device} ({window}) is heard from but reports: {problem}. "
                           "Technical detail: {error}",
    "alert_device_fault": "Device cannot record",
    "alertd_window": "window {id}", "alertd_window_named": "{name} {id}",
    "alertd_seconds": "{n} s", "alertd_minutes": "{n} s (about {m} min)",
    "alertd_hours": "{n} s (about {m} h)", "alertd_days": "{n} s (about {m} days)",
    "alerts_tab_open": "Open", "alerts_tab_resolved": "Resolved", "alerts_tab_all": "All",
    "alerts_all": "All alerts ({n} open)",
    "alerts_kind": "Kind", "alerts_any_kind": "All kinds",
    "alerts_severity": "Severity", "alerts_any_severity": "All severities",
    "alerts_raised_at": "Raised at", "alerts_handling": "Handling",
    "alerts_resolved_by": "resolved by {name}", "alerts_resolved_by_scan": "resolved by the scan "
                                                                         "(the condition ended)",
    "alerts_resolve": "Resolve", "alerts_note": "Why it is resolved (required)",
    "alerts_note_example": "e.g. checked: a faulty device, replaced",
    "alerts_note_hint": "Say what was checked and done, {n} characters at most; kept in the "
                        "audit log, cannot be undone.",
    "alerts_resolve_submit": "Resolve the alert",
    "alerts_resolved_ok": "Alert #{id} resolved; the note is in the audit log.",
    "alerts_none": "No alerts match",
    "alerts_none_open": "No open alerts",
    "alerts_who_resolves": "Missing records, silent devices, devices that cannot record and "
                           "ratings not uploaded are resolved "
                           "by the hourly scan once the condition ends; every other alert is "
                           "resolved by a supervisor or an administrator, with a reason, never "
                           "by the manager of the unit it concerns.",
    "problem_alert_note_required": "The note cannot be empty: say why the alert is resolved "
                                   "(what was checked and done)",
    "problem_alert_note_too_long": "The note must be at most {limit} characters long, got "
                                   "{length}",
    "problem_alert_resolved_already": "Alert #{id} was resolved already, at {at}",
    "problem_alert_resolver_role": "Only a supervisor or an administrator resolves an alert: the "
                                   "manager of the unit it concerns cannot dismiss it",
}

# Values shown as they came, set apart: technical text and ids no one translates.
TECHNICAL = frozenset({"reason", "error", "event", "stream", "old_stream"})
# Of those, the UUIDs: their first 8 characters tell them apart on a page (all of it on hover).
IDS = frozenset({"event", "stream", "old_stream"})
# Values that are times (ISO text): shown in the site's time zone.
TIMES = frozenset({"device_time"})


def _duration(t, seconds) -> str:
    n = int(seconds)
    for key, size, limit in (("alertd_days", 86400, None), ("alertd_hours", 3600, 2 * 86400),
                             ("alertd_minutes", 60, 2 * 3600)):
        if n >= 2 * size and (limit is None or n < limit):
            return t(key, n=n, m=round(n / size))
    return t("alertd_seconds", n=n)


def _time(value, tz: dt.tzinfo) -> str:
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)  # a device's odd time text, as it came
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _value(name: str, value, alert: dict, t, tz: dt.tzinfo):
    if name in IDS and isinstance(value, str) and len(value) > 12:
        return Markup('<code title="{}">{}…</code>').format(value, value[:8])
    if name in TECHNICAL:
        return Markup("<code>{}</code>").format(value)
    if name in TIMES or name.endswith("_at"):
        return _time(value, tz)
    if name == "seconds":
        return _duration(t, value)
    if name == "problem":   # a device fault's key (fleet.FAULTS), told in words
        return t(f"fault_{value}")
    if name == "window":
        named = alert.get("window_name") if value == alert.get("window_id") else None
        return t("alertd_window_named", name=named, id=value) if named else \
            t("alertd_window", id=value)
    return value


def alert_detail(alert: dict, t, tz: dt.tzinfo) -> Markup | str:
    """The detail of ``alert`` (a row of ``alerts``, optionally with ``window_name``) in
    ``t``'s language; its stored English ``detail`` when it has no values or they do not fit."""
    try:
        args = json.loads(alert.get("detail_args") or "null")
        template = t.messages.get(f"alertd_{args.pop('msg', alert['kind'])}")
        if not template:
            return alert["detail"]
        return Markup(template).format(**{k: _value(k, v, alert, t, tz) for k, v in args.items()})
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return alert["detail"]
