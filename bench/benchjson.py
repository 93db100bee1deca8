"""The machine-readable side of every bench script: ``--json PATH`` writes a list of rows.

Each row: {"figure", "value", "unit", "raw" (or null), "ratio" (or null), "target",
"holds" (true/false/null)}. ``raw`` is the raw limit measured in the same run (same unit as
``value``) where one exists; ``ratio`` is value ÷ raw. ``bench/run_all.py`` reads these files
and prints one table.
"""

from __future__ import annotations

import json
from pathlib import Path


class Figures:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, figure: str, value, unit: str, *, raw=None, ratio=None, target: str = "",
            holds: bool | None = None) -> None:
        if ratio is None and raw not in (None, 0) and value is not None:
            ratio = value / raw
        self.rows.append({"figure": figure, "value": _num(value), "unit": unit,
                          "raw": _num(raw), "ratio": _num(ratio), "target": target,
                          "holds": None if holds is None else bool(holds)})

    def write(self, path: str | None) -> None:
        if path:
            Path(path).write_text(json.dumps(self.rows, ensure_ascii=False, indent=1) + "\n")


def _num(x):
    if x is None:
        return None
    return round(float(x), 4) if not isinstance(x, int) else x
