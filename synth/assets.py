"""A subject's renderable assets (numpy, no Blender): posed meshes per view, UV textures, hair shell.

The head mesh is split by mask label into parts (skin, eyes, mouth) that share one material; the hair
shell is a fourth part with its own material. Each part stores its vertex positions for every view,
so the scene only keys shape keys (synth.scene).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from gasp.data import MASK_LABELS
from gasp.io import atomic_write_bytes
from synth import hair as hairlib
from synth.albedo import Anatomy, measure_anatomy, paint_head
from synth.samplers import SubjectSample

# head-model region -> mask label (gasp.data.MASK_LABELS)
PART_REGIONS = {"skin": ("face", "scalp", "ears", "neck", "brows"), "eyes": ("eyes",), "mouth": ("lips", "mouth")}


@dataclasses.dataclass
class MaterialSpec:
    """UV images (R,R,C), row 0 at v = 0: albedo linear RGB, roughness, optional bump height."""
    albedo: np.ndarray
    roughness: np.ndarray
    specular: float
    bump: np.ndarray | None = None
    bump_strength: float = 0.0


@dataclasses.dataclass
class MeshPart:
    """faces (f,3) into this part's vertices; corner_uvs (f*3,2); positions (V,n,3) per view."""
    name: str
    label: int
    material: str
    faces: np.ndarray
    corner_uvs: np.ndarray
    positions: np.ndarray


@dataclasses.dataclass
class SubjectAssets:
    parts: list[MeshPart]
    materials: dict[str, MaterialSpec]
    anatomy: Anatomy


def posed_vertices(model, sample: SubjectSample) -> np.ndarray:
    """(V,n,3) float32 head vertices of every view (identity, expression, jaw, neck, global pose)."""
    V = len(sample.views)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        v = model.verts(t(np.tile(sample.shape, (V, 1))), t(sample.expr), t(sample.jaw), t(sample.neck),
                        t(sample.global_rt))
    return v.numpy()  # float32, as Blender stores them


def neutral_vertices(model, shape: np.ndarray) -> np.ndarray:
    """(n,3) the subject's identity at neutral expression and pose (what textures are painted on)."""
    z = model.zeros(1)
    z["shape"] = torch.as_tensor(shape, dtype=torch.float32)[None]
    with torch.no_grad():
        return model.verts(**z)[0].numpy().astype(np.float64)


CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "synth"


def texel_layout(model, res: int) -> dict[str, np.ndarray]:
    """Which surface point every covered texel of the R x R UV map shows, independent of the subject:
    corners (N,3) vertex ids and bary (N,3) of its face, regions (N,) str, rows (N,), cols (N,), and
    fill (R,R) -> index of the nearest covered texel for every texel.

    The same for every subject of a head model, and a tenth of a subject's texture time: cached on
    disk, keyed by a hash of the mesh's faces, UVs and regions and of the code that builds it (a
    damaged cache file is rebuilt).
    """
    from gasp.model.head import uv as uv_module

    key = hashlib.sha256(str(res).encode())
    for source in (__file__, uv_module.__file__):
        key.update(Path(source).read_bytes())
    for a in (model.faces, model.uvs, model.uv_faces, model.face_regions):
        key.update(np.ascontiguousarray(a.numpy()).tobytes())
    key.update("\0".join(model.regions).encode())
    path = CACHE_DIR / f"texels-{res}-{key.hexdigest()[:16]}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            pass
    b = uv_module.uv_binding(model, res)
    fid = np.asarray(b.face_ids)
    uv = np.asarray(b.uv, np.float64)
    cols = np.clip((uv[:, 0] * res).astype(int), 0, res - 1)
    rows = np.clip((uv[:, 1] * res).astype(int), 0, res - 1)
    index = -np.ones((res, res), int)
    index[rows, cols] = np.arange(len(fid))
    _, (ri, ci) = ndimage.distance_transform_edt(index < 0, return_indices=True)
    layout = {"corners": model.faces.numpy()[fid], "bary": np.asarray(b.barys, np.float64),
              "regions": np.asarray(model.regions)[model.face_regions.numpy()[fid]], "rows": rows, "cols": cols,
              "fill": index[ri, ci]}
    buf = io.BytesIO()
    np.savez(buf, **layout)
    atomic_write_bytes(path, buf.getvalue())
    return layout


@dataclasses.dataclass
class Texels:
    """Every texel covered by the UV layout: its surface point on a mesh of the model, points (N,3), and
    on the model's template, template_points (N,3); regions (N,) str; rows, cols (N,); and `fill` (R,R) ->
    index of the nearest covered texel for every texel (so bilinear lookups at chart borders never see
    black)."""
    points: np.ndarray
    template_points: np.ndarray
    regions: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    fill: np.ndarray


def texel_surface(model, verts: np.ndarray, res: int) -> Texels:
    """The texels of the R x R UV map on the mesh `verts` (V,3) (and on the template)."""
    t = texel_layout(model, res)
    template = model.template.numpy().astype(np.float64)
    return Texels(np.einsum("nkd,nk->nd", verts[t["corners"]], t["bary"]),
                  np.einsum("nkd,nk->nd", template[t["corners"]], t["bary"]), t["regions"], t["rows"], t["cols"],
                  t["fill"])


def _to_image(values: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """(N,...) per-texel values -> (R,R,...) image, every texel filled from its nearest covered texel."""
    return values[fill].astype(np.float32)


def _split(faces: np.ndarray, keep: np.ndarray, uv_corners: np.ndarray):
    """Sub-mesh of the faces `keep`: (vertex indices it uses (k,), local faces, corner uvs)."""
    used, local = np.unique(faces[keep], return_inverse=True)
    return used, local.reshape(-1, 3), uv_corners[keep].reshape(-1, 2)


def build_assets(model, sample: SubjectSample, tex_res: int) -> SubjectAssets:
    """Everything synth.scene needs for one subject: parts with per-view positions and materials."""
    faces = model.faces.numpy()
    uv_corners = model.uvs.numpy()[model.uv_faces.numpy()]                       # (F,3,2)
    region_of_face = np.asarray(model.regions)[model.face_regions.numpy()]
    neutral = neutral_vertices(model, sample.shape)
    anatomy = measure_anatomy(model, neutral)
    posed = posed_vertices(model, sample)

    tex = texel_surface(model, neutral, tex_res)
    points, fill = tex.points, tex.fill
    texel_hairline = hairlib.hairline(points, tex.regions, anatomy, sample.hair)
    cover_t = texel_hairline.cover()
    scalp_paint = texel_hairline.cover(lower=0.06)
    rgb, rough = paint_head(points, tex.template_points, tex.regions, anatomy, sample.appearance, scalp_paint,
                            sample.hair)
    app = sample.appearance
    materials = {"head": MaterialSpec(_to_image(rgb, fill), _to_image(rough, fill), specular=app["specular"])}
    parts = []
    for name, regs in PART_REGIONS.items():
        keep = np.isin(region_of_face, regs)
        used, f, uv = _split(faces, keep, uv_corners)
        parts.append(MeshPart(name, MASK_LABELS.index(name), "head", f, uv, posed[:, used]))

    if not sample.hair["bald"]:
        vertex_hairline = hairlib.hairline(neutral, hairlib.vertex_regions(faces, region_of_face, len(neutral)),
                                           anatomy, sample.hair)
        keep = hairlib.shell_faces(faces, vertex_hairline.cover())
        offset = hairlib.thickness(neutral, vertex_hairline.cover(ramp=0.45), sample.hair,
                                   hairlib.edge_taper(neutral, faces, keep))
        used, f, uv = _split(faces, keep, uv_corners)
        pos = hairlib.shell(posed, faces, offset, used)
        h_rgb, h_rough, h_height = hairlib.paint_hair(points, cover_t, sample.hair)
        materials["hair"] = MaterialSpec(_to_image(h_rgb, fill), _to_image(h_rough, fill),
                                         specular=0.45, bump=_to_image(h_height, fill),
                                         bump_strength=0.25)
        parts.append(MeshPart("hair", MASK_LABELS.index("hair"), "hair", f, uv, pos))
    return SubjectAssets(parts, materials, anatomy)
