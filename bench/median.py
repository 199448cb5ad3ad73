"""Combine several ``run.py --json`` files: per row, the run with the median ratio.

    python bench/run.py --full --json r1.json   # (three times: r1, r2, r3)
    python bench/median.py r1.json r2.json r3.json

Prints a Markdown table. Each row is taken whole from the run whose ratio is the median
for that row, so its figures stay consistent with each other.
"""

from __future__ import annotations

import json
import sys
from typing import Dict, List, Optional

HEADER = ("metric", "taro_udp", "baseline", "ratio", "target", "met")


def ratio_of(row: Dict[str, str]) -> float:
    text = row["ratio"].rstrip("x")
    try:
        return float(text)
    except ValueError:
        return float("inf")


def main(paths: List[str]) -> int:
    runs = []
    for path in paths:
        with open(path) as handle:
            runs.append(json.load(handle))
    if not runs:
        print(__doc__)
        return 2
    rows: List[Dict[str, str]] = []
    for index in range(min(len(run) for run in runs)):
        candidates = sorted((run[index] for run in runs), key=ratio_of)
        chosen: Optional[Dict[str, str]] = candidates[(len(candidates) - 1) // 2]
        assert chosen is not None
        rows.append(chosen)
    widths = [max(len(h), *(len(row[h]) for row in rows)) for h in HEADER]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(HEADER, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(row[h].ljust(w) for h, w in zip(HEADER, widths)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
