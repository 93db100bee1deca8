"""The idle screen (亮身份、亮承诺) with the data real windows have, at 1024×600: a long name,
a long pledge, more service items than fit, an award badge (a reviewer's walk, #1, #4, #5).

What is measured is what a citizen sees: the text a label draws (its lines, with or without
"…") and where each widget is, not how the kv computes it."""

from __future__ import annotations

from tests.gui.test_rating_gui import BADGE_WANG

LONG_NAME = "阿卜杜热合曼·买买提明·吐尔逊"   # 15 characters, a real Uyghur name's length
LONG_PLEDGE = ("微笑服务，一次讲清，限时办结，不让群众跑第二趟；首问负责，一次告知，容缺受理，帮办代办，"
               "延时服务，预约服务，上门服务；廉洁自律，不吃拿卡要，主动接受群众监督，对群众反映的问题"
               "做到件件有着落、事事有回音。")
ITEMS = [{"code": "A1", "name": "城乡居民基本养老保险参保登记、变更登记及注销登记", "time_limit": "即办"},
         {"code": "A2", "name": "社会保障卡申领（含补领、换领、挂失、解挂）", "time_limit": "法定20个工作日，承诺5个工作日"}] + \
        [{"code": f"B{i}", "name": f"灵活就业人员参保登记{i}", "time_limit": "即办"} for i in range(10)]


def _drawn(label) -> str:
    """The text ``label`` draws, its lines joined (a cut one ends in "…")."""
    label.texture_update()
    return "".join("".join(w.text for w in line.words) for line in label._label._cached_lines)


def _idle_with(k, name=LONG_NAME, pledge=LONG_PLEDGE, items=ITEMS, **body):
    roster = [dict(r) for r in k.app.cfg.roster]
    roster[0].update(name=name, pledge=pledge)
    k.store.apply_config({"window": {"id": "W-001"}, "roster": roster, "service_items": items, **body},
                         f"etag-{len(body)}", 1)
    k.app.apply_device_config()
    k.type_badge(BADGE_WANG)
    k.frames(8)
    return k.app.root.get_screen("idle")


def _inside(widget, box, slack: float = 1.0) -> bool:
    return (widget.x >= box.x - slack and widget.right <= box.right + slack
            and widget.y >= box.y - slack and widget.top <= box.top + slack)


def test_the_more_items_line_is_one_line_and_the_pledge_title_stays_in_its_card(make_kiosk):
    # "另有 10 项，请咨询窗口工作人员" wrapped, leaving "员" alone on a second line, beside 80 px
    # kept for a time limit it does not have; the fitting counted it as one line, so the
    # column was pushed up and "服务承诺" sat on the card's top edge.
    k = make_kiosk()
    idle = _idle_with(k)
    box = idle.ids.item_list
    column = box.parent
    rows = list(reversed(box.children))
    more = rows[-1]
    shown = len(rows) - 1
    assert more.name == k.app.tr("idle.more_items", n=len(ITEMS) - shown)
    assert more.ids.limit_label.width == 0
    assert len(more.ids.name_label._label._cached_lines) == 1, _drawn(more.ids.name_label)
    inner_top = column.top - column.padding[1]
    for child in column.children:   # nothing over the card's padding, nothing below its bottom
        assert child.top <= inner_top + 1 and child.y >= column.y - 1, child


def test_a_long_name_gets_smaller_type_and_a_second_line_before_it_is_cut(make_kiosk):
    # The name was cut to "阿卜杜热合曼…" at 30 px while 22 px on two lines showed it whole:
    # a citizen must be able to read who served them.
    k = make_kiosk()
    idle = _idle_with(k)
    label = next(w for w in idle.walk() if getattr(w, "text", None) == LONG_NAME)
    assert _drawn(label) == LONG_NAME
    assert label.texture_size[0] <= label.width + 1 and label.texture_size[1] <= label.height + 1
    card = label.parent.parent
    assert _inside(label, card)
    # a short name keeps the full size
    assert idle.fit_size("王芳", label.width, idle.NAME_SIZES, k.app.u, bold=True)[0] == 30


def test_a_long_pledge_gets_smaller_type_before_it_is_cut(make_kiosk):
    # The public pledge (亮承诺) was cut after four lines at 22 px, its last third never
    # shown, where 18 px showed it whole and left room for the service items.
    k = make_kiosk()
    idle = _idle_with(k)
    label = next(w for w in idle.walk() if getattr(w, "text", None) == LONG_PLEDGE)
    assert _drawn(label) == LONG_PLEDGE
    assert label.font_size < 22 * k.app.u
    column = idle.ids.item_list.parent
    assert _inside(label, column) and len(idle.ids.item_list.children) >= 2   # an item, "N more"


def test_the_award_badge_stays_inside_its_card_in_english(make_kiosk):
    # "Red Flag Window · 11/2026" was wider than the staff card and ran past its edges.
    k = make_kiosk()
    k.app.switch_language()
    assert k.app.lang == "en"
    idle = _idle_with(k, award={"kind": "red_flag", "period": "2026-11"})
    badge = idle.ids.award_label
    assert badge.text == idle.award_text(k.app.award) and "2026" in badge.text
    details = idle.ids.award_badge.parent
    card = details.parent
    left, right = card.x + card.padding[0], card.right - card.padding[2]
    assert left - 1 <= badge.x and badge.right <= right + 1, (badge.x, badge.right, left, right)
    assert _drawn(badge).replace(" ", "") == badge.text.replace(" ", "")   # whole, no "…"
    assert badge.texture_size[1] <= badge.height + 1


def test_the_call_to_rate_shows_no_stars(kiosk):
    # Five full stars on the button that starts a rating showed the top score as the call to
    # rate: a pull toward 5★, where the rules forbid steering a rating.
    button = kiosk.app.root.get_screen("idle").ids.rate_button
    assert button.text and "★" not in button.text and "☆" not in button.text
    assert kiosk.app.tr("idle.rate_call") in button.text
