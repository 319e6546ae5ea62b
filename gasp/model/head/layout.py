"""UV atlas of the procedural head: four charts cut along grid lines, packed without overlap.

Charts (rows/columns of the latitude-longitude grid of procedural.py):
  face  - the front band (forehead to under the chin, cheek to cheek), FACE_DENSITY x the texel
          density of the other charts;
  back  - the rest of that band (sides, ears, back of the head), one strip through the back;
  crown - everything above the band as a polar disk around the crown pole;
  neck  - everything below the band, unrolled with the seam at the back of the neck.
Inside a chart u and v are cumulative mean edge lengths along columns and rows, so the map is a
monotone grid (no fold-overs) with near-uniform texel density; charts are scaled, rotated by 90
degrees where that packs better, and shelf-packed into [0,1]^2.
"""
from __future__ import annotations

import itertools

import numpy as np

FACE_DENSITY = 2.3           # linear texel density of the face chart relative to the others
FACE_COLS = 1.22             # |phi| (rad) covered by the face chart
FACE_ROWS = (0.62, 2.17)     # theta (rad) range of the face chart (hairline to under the chin)
TARGET_FILL = 0.70           # fraction of the atlas covered by charts (UV 512 -> ~183k texels)
PAD = 0.006                  # gap between charts (3 texels at 512)


def _cum(lengths):
    return np.concatenate([[0.0], np.cumsum(lengths)])


def _shelf_pack(sizes, scale):
    """Place rectangles sizes (n,2)*scale on shelves in the unit square; offsets or None."""
    x = y = shelf_h = 0.0
    out = []
    for w, h in sizes * scale:
        if x + w + PAD > 1.0:
            x, y, shelf_h = 0.0, y + shelf_h + PAD, 0.0
        if x + w + PAD > 1.0 or y + h + PAD > 1.0:
            return None
        out.append((x + PAD, y + PAD))
        x += w + PAD
        shelf_h = max(shelf_h, h)
    return np.array(out)


def _pack(sizes):
    """Best (scale, order, rotate flags, offsets) over chart orders and 90-degree rotations."""
    best = None
    n = len(sizes)
    for rot in itertools.product([False, True], repeat=n):
        sz = np.where(np.array(rot)[:, None], sizes[:, ::-1], sizes)
        for order in itertools.permutations(range(n)):
            lo, hi = 0.0, 10.0 / sz.max()
            for _ in range(22):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if _shelf_pack(sz[list(order)], mid) is not None else (lo, mid)
            if best is None or lo > best[0] + 1e-12:
                best = (lo, order, rot, _shelf_pack(sz[list(order)], lo))
    return best


def uv_layout(theta, phi, verts, faces, n_rings, n_cols):
    """-> uvs (T,2) in [0,1], uv_faces (F,3), for the grid mesh built by procedural._faces."""
    M = n_cols
    ring_theta = theta[1:-1]
    r0 = int(np.searchsorted(ring_theta, FACE_ROWS[0]))
    r1 = int(np.searchsorted(ring_theta, FACE_ROWS[1]))
    c0 = int(np.searchsorted(phi, -FACE_COLS))
    c1 = M - c0
    grid = verts[1:-1].reshape(n_rings, M, 3)
    top, bottom = verts[0], verts[-1]
    col_len = np.linalg.norm(np.roll(grid, -1, axis=1) - grid, axis=-1)       # (R, M) edge j -> j+1
    row_len = np.linalg.norm(grid[1:] - grid[:-1], axis=-1)                   # (R-1, M) ring i -> i+1

    charts = {}                         # name -> dict((i, j) key -> (u, v)), with i ring, j unwrapped column

    def rect(name, rows, cols):
        jj = np.asarray(cols) % M
        u = _cum(col_len[rows[0]:rows[-1] + 1][:, jj[:-1]].mean(0))
        v = -_cum(row_len[rows[0]:rows[-1]][:, jj].mean(1))
        charts[name] = {(i, j): (u[b], v[a]) for a, i in enumerate(rows) for b, j in enumerate(cols)}

    rect("face", list(range(r0, r1 + 1)), list(range(c0, c1 + 1)))
    rect("back", list(range(r0, r1 + 1)), list(range(c1, c0 + M + 1)))
    neck_rows = list(range(r1, n_rings))
    rect("neck", neck_rows, list(range(0, M + 1)))
    neck = charts["neck"]
    v_last = neck[(n_rings - 1, 0)][1]
    drop = np.linalg.norm(grid[-1] - bottom, axis=-1).mean()
    for j in range(M):                  # one bottom-pole uv per column: the pole row unrolls to a line
        u_mid = 0.5 * (neck[(n_rings - 1, j)][0] + neck[(n_rings - 1, j + 1)][0])
        neck[("pole", j)] = (u_mid, v_last - drop)
    rho = _cum(np.concatenate([[np.linalg.norm(grid[0] - top, axis=-1).mean()], row_len[:r0].mean(1)]))
    crown = {("top", 0): (0.0, 0.0)}
    for i in range(r0 + 1):
        for j in range(M):
            crown[(i, j)] = (-rho[i + 1] * np.sin(phi[j]), rho[i + 1] * np.cos(phi[j]))
    charts["crown"] = crown

    names = ["face", "back", "crown", "neck"]
    boxes = []
    for n in names:
        uv = np.array(list(charts[n].values()))
        k = FACE_DENSITY if n == "face" else 1.0
        boxes.append((uv.min(0), uv.max(0), k))
    sizes = np.array([(hi - lo) * k for lo, hi, k in boxes])
    scale, order, rot, offs = _pack(sizes)
    area = (sizes.prod(1) * scale ** 2).sum()
    scale_fit = min(1.0, np.sqrt(TARGET_FILL / area))         # shrink to the target fill, keep offsets
    placed = {}
    for slot, ci in enumerate(order):
        lo, hi, k = boxes[ci]
        for key, p in charts[names[ci]].items():
            q = (np.asarray(p) - lo) * k * scale
            if rot[ci]:
                q = np.array([q[1], (hi - lo)[0] * k * scale - q[0]])
            placed[(names[ci], key)] = offs[slot] + q * scale_fit

    # assign each face to a chart and look up its corners
    keys, uv_faces = {}, []

    def uid(chart, key):
        k = (chart, key)
        if k not in keys:
            keys[k] = len(keys)
        return keys[k]

    def cell_chart(i, j):
        if i < r0:
            return "crown", j
        if i >= r1:
            return "neck", j
        if c0 <= j < c1:
            return "face", j
        return "back", j if j >= c1 else j + M

    for j in range(M):                                  # crown fan
        uv_faces.append([uid("crown", ("top", 0)), uid("crown", (0, j)), uid("crown", (0, (j + 1) % M))])
    for i in range(n_rings - 1):
        for tri in range(2):
            for j in range(M):
                ch, ju = cell_chart(i, j)
                jm = (j + 1) % M if ch == "crown" else ju + 1
                a, b, a1, b1 = (i, ju), (i + 1, ju), (i, jm), (i + 1, jm)
                corners = (a, b, b1) if tri == 0 else (a, b1, a1)
                uv_faces.append([uid(ch, c) for c in corners])
    for j in range(M):                                  # bottom fan (neck chart)
        uv_faces.append([uid("neck", (n_rings - 1, j)), uid("neck", ("pole", j)), uid("neck", (n_rings - 1, j + 1))])
    uvs = np.zeros((len(keys), 2))
    for k, idx in keys.items():
        uvs[idx] = placed[k]
    return uvs, np.asarray(uv_faces, dtype=np.int64)
