"""The synthetic-data contact sheet: one row per subject, one column per view (front to back)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gasp.io import atomic_write_bytes

SHEET_YAWS = [0.0, 40.0, 90.0, 180.0]


def compose(records: list[dict], image_dir: Path, out: str | Path, background: int = 235, columns: int = 2) -> None:
    """Tile previews (records from previews.json) on a light background; subjects in `columns` blocks,
    each row labelled with subject id and domain."""
    rows = []
    for rec in records:
        tiles = []
        for name in rec["images"]:
            img = cv2.imread(str(image_dir / name), cv2.IMREAD_UNCHANGED).astype(np.float32)
            a = img[..., 3:] / 255.0
            tiles.append((img[..., :3] * a + background * (1 - a)).astype(np.uint8))
        row = np.concatenate(tiles, 1)
        cv2.putText(row, f"{rec['subject']} {rec['domain']}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (40, 40, 40), 1,
                    cv2.LINE_AA)
        rows.append(row)
    per_col = -(-len(rows) // columns)
    blank = np.full_like(rows[0], background)
    blocks = [np.concatenate(rows[c * per_col:(c + 1) * per_col] + [blank] * (per_col - len(rows[c * per_col:(c + 1) * per_col])), 0)
              for c in range(columns)]
    sep = np.full((blocks[0].shape[0], 8, 3), 255, np.uint8)
    sheet = np.concatenate([x for b in blocks for x in (b, sep)][:-1], 1)
    ok, buf = cv2.imencode(".png", sheet)
    atomic_write_bytes(out, buf.tobytes())
