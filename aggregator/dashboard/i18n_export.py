"""Catalog entries of the per-rating export (``rating_export.py``): its column headers and
its form on the rankings page. ``i18n.py`` merges them into its zh_CN and en catalogs."""

from __future__ import annotations

ZH = {
    "xcol_rating_id": "评价编号", "xcol_date": "评价日期", "xcol_time": "评价时间",
    "xcol_received_at": "接收时间", "xcol_unit_id": "单位编号", "xcol_unit_name": "单位名称",
    "xcol_window_id": "窗口编号", "xcol_window_name": "窗口名称", "xcol_staff_id": "人员编号",
    "xcol_staff_name": "人员姓名", "xcol_service_item": "事项编码",
    "xcol_service_item_name": "事项名称", "xcol_case_no": "办件编号",
    "xcol_channel_code": "评价渠道代码", "xcol_channel_name": "评价渠道", "xcol_scale": "评价等级制",
    "xcol_level": "评价等级标识", "xcol_level_name": "评价等级", "xcol_level_code": "评价等级代码",
    "xcol_stars": "星级", "xcol_bad": "差评", "xcol_reasons": "差评原因代码",
    "xcol_reason_names": "差评原因", "xcol_comment": "评价意见", "xcol_flagged": "可疑",
    "xcol_flags": "可疑标记",
    "export_channel_4": "政务大厅平板电脑", "export_channel_3": "二维码",
    "rating_export": "逐条评价导出（报送好差评系统）",
    "rating_export_hint": "按所选日期（本地日）导出所选单位或区域（默认为您的全部范围）的每一条评价，不含群众联系电话；导出将记入审计日志。",
    "export_scope": "导出范围", "export_scope_all": "全部单位",
    "export_scope_mine": "{name}（全部单位）", "export_whole_region": "{name}（全区域）",
    "export_no_region": "未划分区域",
    "export_target": "等级编码", "target_national": "国家标准（1=非常满意）",
    "target_provincial": "省级接口（1=非常不满意）", "export_format": "格式",
    "date_from": "起始日期", "date_to": "截止日期", "export_ratings": "导出评价明细",
    "audit_export_ratings": "导出评价明细", "ratings_sheet": "评价明细",
}

EN = {
    "xcol_rating_id": "Rating id", "xcol_date": "Date", "xcol_time": "Time",
    "xcol_received_at": "Received", "xcol_unit_id": "Unit id", "xcol_unit_name": "Unit",
    "xcol_window_id": "Window id", "xcol_window_name": "Window", "xcol_staff_id": "Staff id",
    "xcol_staff_name": "Staff", "xcol_service_item": "Service item code",
    "xcol_service_item_name": "Service item", "xcol_case_no": "Case number",
    "xcol_channel_code": "Channel code", "xcol_channel_name": "Channel", "xcol_scale": "Scale",
    "xcol_level": "Level key", "xcol_level_name": "Level", "xcol_level_code": "Level code",
    "xcol_stars": "Stars", "xcol_bad": "Bad", "xcol_reasons": "Reason codes",
    "xcol_reason_names": "Reasons", "xcol_comment": "Comment", "xcol_flagged": "Flagged",
    "xcol_flags": "Flags",
    "export_channel_4": "Hall tablet", "export_channel_3": "QR code",
    "rating_export": "Export every rating (for the 好差评 system)",
    "rating_export_hint": "Every rating of the chosen unit or region (by default your whole scope) on the chosen local days, without the citizen's phone number; the export is recorded in the audit log.",
    "export_scope": "Unit or region", "export_scope_all": "All units",
    "export_scope_mine": "{name} (all units)", "export_whole_region": "{name} (whole region)",
    "export_no_region": "No region",
    "export_target": "Level codes", "target_national": "National standard (1 = very satisfied)",
    "target_provincial": "Provincial interface (1 = very dissatisfied)", "export_format": "Format",
    "date_from": "From", "date_to": "To", "export_ratings": "Export ratings",
    "audit_export_ratings": "Exported ratings", "ratings_sheet": "Ratings",
}
