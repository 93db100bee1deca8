"""Kiosk configuration: every setting declared once, with its default and help text.

``load_config(path)`` reads a YAML file (``yaml.safe_load`` only) and returns a ``Config``
whose attributes follow the dotted names below (``cfg.trigger.mode``). Unknown keys, wrong
types and out-of-range values raise ``ConfigError`` listing every problem with its key path
and line, e.g. ``config.yaml line 12: sync.batch_size must be an integer, got '10'``.

>>> cfg = load_config_text("trigger:\\n  mode: invited\\n")
>>> cfg.trigger.mode, cfg.trigger.lockout_seconds
('invited', 10)
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from sync.protocol import server_url_problem

from .errors import ConfigError
from .keys import invite_key_names, invite_keycode


@dataclass(frozen=True)
class Setting:
    """One setting: dotted name, type, default, help, and its allowed values."""

    name: str
    type: str  # str, int, bool, float, choice, list, url, key
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple = ()
    pattern: str | None = None
    item: dict[str, "Setting"] = field(default_factory=dict)  # fields of one list item


def _item(*settings: Setting) -> dict[str, Setting]:
    return {s.name: s for s in settings}


# What `kiosk set-pin` writes (kiosk/pin.py). A PIN typed in here as it is ("123456") passed,
# and the technician panel could then never be opened.
PIN_HASH = r"^(|pbkdf2_sha256\$[0-9]{1,7}\$[0-9a-f]{2,64}\$[0-9a-f]{64})$"

STAFF_FIELDS = _item(
    Setting("staff_id", "str", None, "stable id of the staff member"),
    Setting("name", "str", None, "name shown on the badge screen"),
    Setting("staff_no", "str", "", "staff number (工号), also used to sign in with a PIN"),
    Setting("post", "str", "", "post (岗位), e.g. 社保经办"),
    Setting("party_member", "bool", False, "shows the party-member badge (共产党员先锋岗)"),
    Setting("stars", "int", 0, "star level 0-5 (星级)", min=0, max=5),
    Setting("pledge", "str", "", "public pledge (服务承诺)"),
    Setting("photo", "str", "", "JPEG or PNG photo file, relative to the config file; empty for an avatar"),
    Setting("badge", "str", "", "badge number the card reader types", pattern=r"^[0-9A-Za-z]*$"),
    Setting("pin_hash", "str", "", "PIN hash made by `kiosk set-pin`; empty disables PIN sign-in",
            pattern=PIN_HASH),
)

SERVICE_ITEM_FIELDS = _item(
    Setting("code", "str", None, "service item code (事项编码)"),
    Setting("name", "str", None, "service item name"),
    Setting("time_limit", "str", "", "time limit shown to citizens (办结时限), e.g. 即办, 5个工作日"),
)

SETTINGS: tuple[Setting, ...] = (
    Setting("window.id", "str", "W-001", "window id on the aggregation server", pattern=r"^[\w.-]{1,64}$"),
    Setting("window.name", "str", "综合受理窗口", "window name shown on screen"),
    Setting("window.unit_id", "str", "U-001", "unit (hall / service station) id"),
    Setting("window.unit_name", "str", "便民服务中心", "unit name shown on screen"),
    Setting("window.hotline", "str", "12345", "complaint hotline shown on the badge screen"),
    Setting("language", "choice", "zh_CN", "language of the screens", choices=("zh_CN", "en")),
    Setting("scale.levels", "int", 5, "5 levels, or 4 without 基本满意", choices=(4, 5)),
    Setting("trigger.mode", "choice", "open", "open: anyone may rate; invited: only after an invitation",
            choices=("open", "invited")),
    Setting("trigger.lockout_seconds", "int", 10, "open mode: at most one counted rating per this interval",
            min=0, max=3600),
    Setting("trigger.invite_timeout_seconds", "int", 20, "invited mode: no answer in this time records 'not rated'",
            min=3, max=600),
    Setting("trigger.invite_key", "key", "f12", "key the staff button sends to invite a rating: f1 … f24, "
            "printscreen, scrolllock, pause, insert, home, end, pageup or pagedown (kiosk/keys.py)"),
    Setting("trigger.invite_port", "int", 8765, "port of the local invitation endpoint on 127.0.0.1; 0 disables",
            min=0, max=65535),
    Setting("trigger.burst_count", "int", 5, "more ratings than this within burst_seconds are flagged 'burst'",
            min=2, max=1000),
    Setting("trigger.burst_seconds", "int", 60, "window of the burst rule", min=1, max=3600),
    Setting("idle.return_seconds", "int", 30, "rate and follow-up screens return to idle after this", min=5, max=600),
    Setting("idle.thanks_seconds", "int", 4, "how long the thank-you screen shows", min=1, max=60),
    Setting("sync.server", "url", "", "aggregation server URL; empty for standalone use"),
    Setting("sync.interval_seconds", "int", 30, "how often the sync worker wakes when idle", min=5, max=3600),
    Setting("sync.batch_size", "int", 500, "events per upload batch", min=1, max=500),
    Setting("sync.timeout_seconds", "int", 15, "timeout of every HTTP request", min=1, max=300),
    Setting("sync.qr_base_url", "url", "", "base URL of the mobile rating page; set, it is used instead of the server's; empty to use the server's"),
    Setting("storage.data_dir", "str", "var/kiosk", "where the database and credentials live (relative to this file)"),
    Setting("storage.keep_days", "int", 30, "days an event stays on the kiosk after the server acknowledged it"
            " (the server keeps it); pending events are never deleted", min=1, max=3650),
    Setting("technician.pin_hash", "str", "", "technician PIN hash made by `kiosk set-pin`; empty: PIN 000000 until set",
            pattern=PIN_HASH),
    Setting("technician.max_tries", "int", 5, "wrong PINs before the technician entry locks (and a staff "
            "number's PIN sign-in)", min=1, max=20),
    Setting("technician.lockout_seconds", "int", 60, "first lockout; it doubles after each further failure "
            "(staff PIN sign-in: per staff number, at most 5 minutes, forgotten after 30 quiet minutes)",
            min=1, max=86400),
    Setting("display.fullscreen", "bool", True, "fullscreen kiosk window"),
    Setting("display.width", "int", 1024, "window width when not fullscreen", min=320, max=7680),
    Setting("display.height", "int", 600, "window height when not fullscreen", min=240, max=4320),
    Setting("display.show_cursor", "bool", False, "show the mouse cursor"),
    Setting("display.mouse_input", "bool", True, "take the mouse as input; false on a touch panel "
            "that also shows up as a mouse (each touch would come twice)"),
    Setting("display.voice", "bool", True, "play the voice prompt on the rating screen"),
    Setting("roster", "list", [], "staff who may serve at this window (standalone use)", item=STAFF_FIELDS),
    Setting("service_items", "list", [], "service items of this window with time limits", item=SERVICE_ITEM_FIELDS),
)

BY_NAME = {s.name: s for s in SETTINGS}
SECTIONS = {s.name.split(".")[0] for s in SETTINGS if "." in s.name}


# --------------------------------------------------------------------- lines
class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with numbers written with leading zeros kept as written.

    YAML 1.1 reads ``staff_no: 0012`` as the octal number 10 (and ``0100`` as 64): a staff
    member whose number was written unquoted could never sign in, and a window id pointed at
    another window. The text as written is a string; an integer setting then says it wants
    an integer.
    """


def _int_as_written(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    if re.fullmatch(r"[-+]?0[0-9_]+", text):
        return text
    return yaml.SafeLoader.construct_yaml_int(loader, node)


_Loader.add_constructor("tag:yaml.org,2002:int", _int_as_written)


def _line_map(text: str) -> dict[str, int]:
    """Map every key path (``a.b``, ``roster[0].name``) to its 1-based line.

    Refuses what a hand-edited config must not have: a key given twice (YAML keeps the last,
    so a second ``sync:`` section silently dropped the first), and anchors and aliases (an
    alias bomb hung the loader, a recursive one crashed it).
    """
    lines: dict[str, int] = {}
    seen: set[int] = set()

    def walk(node: yaml.Node, path: str) -> None:
        if id(node) in seen:
            raise ConfigError(f"line {node.start_mark.line + 1}: anchors and aliases (& and *) "
                              "are not supported here; write the values out")
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                line = key.start_mark.line + 1
                if sub in first:
                    raise ConfigError(f"line {line}: {sub} is given twice (first on line "
                                      f"{first[sub]}); YAML would keep only the last")
                first[sub] = lines[sub] = line
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                sub = f"{path}[{i}]"
                lines[sub] = value.start_mark.line + 1
                walk(value, sub)

    root = yaml.compose(text, Loader=_Loader)
    if root is not None:
        walk(root, "")
    return lines


# ----------------------------------------------------------------- checking


def _check(setting: Setting, value: Any, path: str) -> tuple[Any, str | None]:
    """(converted value, problem or None) for one value."""
    kind = setting.type
    if kind == "choice":
        if value not in setting.choices:
            return None, f"must be one of {', '.join(map(str, setting.choices))}, got {value!r}"
        return value, None
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return None, f"must be an integer, got {value!r}"
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return None, f"must be a number, got {value!r}"
    if kind == "bool" and not isinstance(value, bool):
        return None, f"must be true or false, got {value!r}"
    if kind == "key":
        # A name the app does not know (F12_KEY, "scroll lock" before 2026-12) passed, and the
        # staff button then invited nobody, without a word in the log.
        if not isinstance(value, str) or invite_keycode(value) is None:
            return None, f"must be a key the staff button can send ({invite_key_names()}), got {value!r}"
        return value.strip(), None
    if kind == "url":
        if not isinstance(value, str):
            return None, f"must be an http:// or https:// URL, got {value!r}"
        problem = server_url_problem(value.strip()) if value.strip() else None
        return (None, problem) if problem else (value.strip(), None)
    if kind == "str":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # window ids like 101 are strings that YAML read as numbers
        if not isinstance(value, str):
            return None, f"must be a string, got {value!r}"
        if setting.pattern and not re.match(setting.pattern, value):
            return None, f"has an invalid value {value!r} (it is the {setting.help})"
    if kind in ("int", "float"):
        if setting.choices and value not in setting.choices:
            return None, f"must be one of {', '.join(map(str, setting.choices))}, got {value!r}"
        if setting.min is not None and value < setting.min:
            return None, f"must be at least {setting.min:g}, got {value!r}"
        if setting.max is not None and value > setting.max:
            return None, f"must be at most {setting.max:g}, got {value!r}"
    return value, None


def _check_list(setting: Setting, value: Any, path: str, problems: list) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append((path, f"must be a list, got {value!r}"))
        return []
    out = []
    for i, item in enumerate(value):
        ipath = f"{path}[{i}]"
        if not isinstance(item, dict):
            problems.append((ipath, f"must be a mapping of {', '.join(setting.item)}, got {item!r}"))
            continue
        row = {}
        for key in item:
            if key not in setting.item:
                problems.append((f"{ipath}.{key}", f"is not a known field; expected one of {', '.join(setting.item)}"))
        for name, field_ in setting.item.items():
            if name not in item or item[name] is None:
                if field_.default is None:
                    problems.append((f"{ipath}.{name}" if name in item else ipath, f"needs '{name}'"))
                row[name] = field_.default
                continue
            converted, problem = _check(field_, item[name], f"{ipath}.{name}")
            if problem:
                problems.append((f"{ipath}.{name}", problem))
            row[name] = converted
        out.append(row)
    return out


class Config(SimpleNamespace):
    """Settings as nested attributes: ``cfg.sync.server``; ``cfg.path`` is the file read."""

    def get(self, name: str) -> Any:
        node: Any = self
        for part in name.split("."):
            node = getattr(node, part)
        return node

    def __repr__(self) -> str:  # secrets never appear in repr
        return f"<Config {getattr(self, 'path', None)!s}>"


def build_config(data: Any, lines: dict[str, int] | None = None, source: str = "config.yaml",
                 base_dir: Path | None = None) -> Config:
    """Validate a parsed mapping and return a Config; raise ConfigError with every problem."""
    lines = lines or {}
    problems: list[tuple[str, str]] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of settings, got {type(data).__name__}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                problems.append((str(key), f"must be a mapping, got {value!r}"))
                continue
            for sub, subvalue in value.items():
                name = f"{key}.{sub}"
                if name not in BY_NAME:
                    known = ", ".join(s.name.split(".", 1)[1] for s in SETTINGS if s.name.startswith(key + "."))
                    problems.append((name, f"is not a known setting; {key} has {known}"))
                else:
                    values[name] = subvalue
        elif key in BY_NAME:
            values[str(key)] = value
        else:
            problems.append((str(key), "is not a known setting; see config.yaml for the documented ones"))
    result = Config(path=source, base_dir=base_dir or Path.cwd())
    for setting in SETTINGS:
        value = values.get(setting.name, setting.default)
        if setting.type == "list":
            converted = _check_list(setting, value, setting.name, problems)
        elif setting.name in values:
            converted, problem = _check(setting, value, setting.name)
            if problem:
                problems.append((setting.name, problem))
        else:
            converted = value
        node = result
        *parents, leaf = setting.name.split(".")
        for part in parents:
            if not hasattr(node, part):
                setattr(node, part, SimpleNamespace())
            node = getattr(node, part)
        setattr(node, leaf, converted)
    _no_two_alike(result.roster, "roster", ("staff_id", "badge", "staff_no"), problems)
    _no_two_alike(result.service_items, "service_items", ("code",), problems)
    if problems:
        raise ConfigError([_where(source, lines, path) + f"{path} {msg}" for path, msg in problems])
    return result


def _no_two_alike(rows: list[dict], path: str, fields: tuple[str, ...], problems: list) -> None:
    """A second row with the same non-empty value in one of ``fields`` is a problem: sign-in
    takes the first staff member with a badge or number, so the second one's ratings were
    counted as the first's."""
    for name in fields:
        seen: dict[Any, int] = {}
        for i, row in enumerate(rows):
            value = row.get(name)
            if value in (None, ""):
                continue
            if value in seen:
                problems.append((f"{path}[{i}].{name}",
                                 f"{value!r} is already the {name} of {path}[{seen[value]}]"))
            seen.setdefault(value, i)


def _where(source: str, lines: dict[str, int], path: str) -> str:
    probe = path
    while probe:
        if probe in lines:
            return f"{source} line {lines[probe]}: "
        parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
        if parent == probe:  # a top-level key the line map does not know (e.g. `null:`)
            break
        probe = parent
    return f"{source}: "


def check_setting(name: str, value: Any) -> Any:
    """``value`` converted for the scalar setting ``name``; ConfigError naming what is wrong."""
    setting = BY_NAME.get(name)
    if setting is None or setting.type == "list":
        raise ConfigError(f"{name} is not a setting that can be changed here")
    converted, problem = _check(setting, value, name)
    if problem:
        raise ConfigError(f"{name} {problem}")
    return converted


def load_config_text(text: str, source: str = "config.yaml", base_dir: Path | None = None) -> Config:
    try:
        lines = _line_map(text)  # checked before it is built
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader (see _Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{source}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{source} {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a kiosk configuration") from None
    return build_config(data, lines, source, base_dir)


# A kiosk config is a few KB; past this it is the wrong file (a log, an image, a disk).
MAX_CONFIG_BYTES = 1 << 20
_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


def _check_regular(path: Path) -> None:
    """Refuse what is not a config file before reading it: a FIFO made ``kiosk run`` and
    ``kiosk check-config`` hang for ever, /dev/zero read until memory ran out."""
    st = path.stat()
    for test, kind in _NOT_REGULAR:
        if test(st.st_mode):
            raise ConfigError(f"{path}: is {kind}, not a config file; give the path of a "
                              "config.yaml")
    if (size := st.st_size) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {size:,} bytes is not a kiosk config (a few KB, at most "
                          f"{MAX_CONFIG_BYTES:,} bytes); is it the right file?")


def load_config(path: str | Path | None) -> Config:
    """Read and validate a config file; ``None`` gives the defaults."""
    if path is None:
        return build_config({}, source="(defaults)")
    path = Path(path)
    try:
        _check_regular(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except UnicodeDecodeError as exc:
        # A config saved by a Chinese Windows editor is GBK: it said only "'utf-8' codec can't
        # decode byte 0xd6 in position 123".
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path} line {line}: the file is not UTF-8 (GBK? saved by a Windows "
                          "editor); save it as UTF-8 and try again") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    return load_config_text(text, source=str(path), base_dir=path.resolve().parent)


def data_dir(cfg: Config) -> Path:
    """The data directory, relative to the config file's directory."""
    p = Path(cfg.storage.data_dir).expanduser()
    return p if p.is_absolute() else Path(cfg.base_dir) / p
