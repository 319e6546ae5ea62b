"""`gasp view`: the page's data, the local server, the CLI, and the page itself in headless Chromium
compared with the project's own renderer (same avatar, same camera, same background)."""
from __future__ import annotations

import base64
import dataclasses
import http.client
import io
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from gasp.camera import orbit_camera
from gasp.cli import main
from gasp.model.fitted_avatar import Avatar, Motion
from gasp.steps.export import posed_gaussians
from tiny_avatar import tiny_avatar
from gasp.viewer.browser import Chromium, find_browser
from gasp.viewer.bundle import MOTION_TOL, build_bundle, builtin_motion
from gasp.viewer.page import STATIC, export_page, static_files
from gasp.viewer.server import PageServer

SIZE = 192
BACKGROUND = (0.3, 0.5, 0.7)  # not white: the page's clear colour must match the renderer's background
YAWS = {"front": 0.0, "side": 90.0, "back": 180.0}


@pytest.fixture(scope="module")
def avatar():
    return tiny_avatar()


def drive_motion(n_expr: int) -> Motion:
    """Neutral; the mouth open (jaw + first expression component), no head motion; the head turned
    (global rotation and translation, neck); a frame that brings the mean translation back to 0 (the
    page, like `gasp animate`, moves the head about its mean position)."""
    m = Motion.neutral(4, n_expr)
    m.jaw[1, 0] = 0.3
    m.expr[1, 0] = 1.5
    m.global_rt[2] = [0.1, 0.4, 0.0, 0.01, 0.0, -0.02]
    m.neck[2] = [0.15, 0.1, 0.0]
    m.global_rt[3, 3:] = -m.global_rt[2, 3:]
    return m


def _decode_bin(blob: bytes, layout: dict) -> dict[str, np.ndarray]:
    return {k: np.frombuffer(blob, np.dtype(s["dtype"]).newbyteorder("<"), int(np.prod(s["shape"])), s["offset"])
            .reshape(s["shape"]) for k, s in layout.items()}


def test_bundle_carries_the_motion_within_tolerance(avatar):
    motion = builtin_motion(avatar.head.n_expr)
    shifted = Motion(motion.expr, motion.jaw, motion.neck, motion.global_rt + [0, 0, 0, 0.01, 0.02, 0.5])
    b = build_bundle(avatar, shifted, 16.0, "built-in")  # a capture's head sits away from the origin
    m = b.manifest
    a, mo = _decode_bin(b.avatar_bin, m["avatar_bin"]), _decode_bin(b.motion_bin, m["motion_bin"])
    for layout, blob in ((m["avatar_bin"], b.avatar_bin), (m["motion_bin"], b.motion_bin)):
        assert all(s["offset"] % 4 == 0 for s in layout.values())
        assert max(s["offset"] + np.dtype(s["dtype"]).itemsize * int(np.prod(s["shape"])) for s in layout.values()) \
            <= len(blob)
    assert a["face"].shape == (avatar.n_gaussians,) and a["faces"].max() < m["n_verts"]
    assert m["mlp"] is not None and "mlp.out.weight" in a
    # the page's vertices: neutral (int16 in the box) + coeffs @ basis for the moving ones
    q = m["quant"]
    rest = np.asarray(q["lo"]) + (a["rest"].astype(np.float64) + q["center"]) * np.asarray(q["step"])
    verts = np.repeat(rest[None], len(motion), 0)
    verts[:, mo["dynamic"]] += (mo["coeffs"].astype(np.float64) @ mo["basis"].astype(np.float64)).reshape(
        len(motion), -1, 3)
    used = np.unique(avatar.head.faces[torch.unique(avatar.binding.face_ids)].numpy())
    still = Motion(motion.expr, motion.jaw, motion.neck, np.zeros_like(motion.global_rt))
    truth = avatar.verts(still)[:, used].numpy()
    assert np.abs(verts - truth).max() < MOTION_TOL + 3 * max(q["step"])
    assert 0 < m["n_dynamic"] < m["n_verts"] and m["n_basis"] < len(motion)  # compressed, not one mesh per frame
    np.testing.assert_allclose(mo["global_rt"], motion.global_rt, atol=1e-6)  # translations about their mean
    assert m["bytes"]["per_frame"] == 4 * m["n_basis"] + 24 + 4 * (avatar.head.n_expr + 3)


def _get(url_host: str, port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(url_host, port, timeout=10)
    conn.request("GET", path)  # sent as written: no client-side normalisation of ".."
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def test_server_serves_only_its_folder(tmp_path):
    page = tmp_path / "page"
    (page / "sub").mkdir(parents=True)
    (page / "index.html").write_text("hello")
    (page / "sub" / "a.js").write_text("x")
    (tmp_path / "secret.txt").write_text("secret")
    (page / "link.txt").symlink_to(tmp_path / "secret.txt")
    with PageServer(page, port=0) as srv:
        host, port = srv.httpd.server_address[:2]
        assert host == "127.0.0.1" and srv.url == f"http://127.0.0.1:{port}/"
        assert _get(host, port, "/") == (200, b"hello")
        assert _get(host, port, "/sub/a.js?v=1") == (200, b"x")
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "/link.txt", "/sub/",
                     "//etc/passwd", "/missing.js"):
            status, body = _get(host, port, path)
            assert status == 404 and b"secret" not in body, path


def test_export_writes_a_self_contained_page(avatar, tmp_path):
    path = tmp_path / "avatar.npz"
    avatar.save(path)
    assert main(["view", str(path), "--export", str(tmp_path / "page"), "--preset", "ci"]) == 0
    out = tmp_path / "page"
    for rel in static_files():
        assert (out / rel).read_bytes() == (STATIC / rel).read_bytes()
    for name in ("avatar.json", "avatar.bin.gz", "motion.bin.gz", "vendor/spark/LICENSE", "vendor/three/LICENSE"):
        assert (out / name).stat().st_size > 0, name
    # nothing from the internet: every module the page imports resolves through its import map to a vendored file
    html = (out / "index.html").read_text()
    imports = dict(re.findall(r'"([^"]+)":\s*"(\./[^"]+)"', html))
    assert "http" not in "".join(imports.values()) and not re.search(r"(src|href)=\"https?:", html)
    for js in out.rglob("*.js"):
        for spec in re.findall(r'^\s*(?:import|export)\b[^;]*?\bfrom\s*["\']([^"\']+)["\']', js.read_text(), re.M):
            if spec.startswith("."):
                assert (js.parent / spec).resolve().is_file(), (js, spec)
            else:
                key = spec if spec in imports else next(k for k in imports if k.endswith("/") and spec.startswith(k))
                assert (out / (imports[key] + spec[len(key):] if key.endswith("/") else imports[key])).is_file(), spec


def test_view_serves_until_ctrl_c(avatar, tmp_path):
    path = tmp_path / "avatar.npz"
    avatar.save(path)
    # the child gets Ctrl-C's default action whatever this process inherited: a shell's background job
    # starts with SIGINT ignored, and Python then never turns it into KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-m", "gasp", "view", str(path), "--port", "0", "--preset", "ci"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            url = (re.search(r"(http://127\.0\.0\.1:(\d+)/)", line) or [None])[0]
        assert url, proc.stderr.read() if proc.poll() is not None else "no URL printed"
        port = int(url.rsplit(":", 1)[1].strip("/"))
        status, body = _get("127.0.0.1", port, "/")
        assert status == 200 and b"importmap" in body
        assert _get("127.0.0.1", port, "/avatar.json")[0] == 200
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------------
# The page in a real browser


@pytest.fixture(scope="module")
def browser():
    if find_browser() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no headless Chromium on PATH (.ci/run installs chromium-headless-shell)")
        pytest.skip("no headless Chromium on PATH (apt-get install chromium-headless-shell)")
    with Chromium(SIZE, SIZE, timeout=180) as br:
        yield br


def _capture(br: Chromium) -> np.ndarray:
    url = br.evaluate("window.gasp.capture()")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"),
                      np.float64) / 255


def _region_scores(img: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import structural_similarity

    psnr = -10 * np.log10(((img - ref) ** 2)[mask].mean())
    _, smap = structural_similarity(img, ref, channel_axis=2, data_range=1.0, full=True)
    return psnr, float(smap.mean(axis=2)[mask].mean())


def _project(points: np.ndarray, K: np.ndarray, w2c: np.ndarray, size: int) -> np.ndarray:
    """Pixel mask of world points seen by the camera, dilated by 2 px."""
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    uv = cam @ K.T
    px = np.floor(uv[:, :2] / uv[:, 2:]).astype(int)
    ok = (px >= 0).all(1) & (px < size).all(1)
    mask = np.zeros((size, size), bool)
    mask[px[ok, 1], px[ok, 0]] = True
    return ndimage.binary_dilation(mask, iterations=2)


def _open(browser: Chromium, url: str) -> tuple[float, dict]:
    """Load the page (paused) and wait for its ready flag -> (seconds to ready, the page's own timings)."""
    t0 = time.perf_counter()
    browser.goto(url + "?play=0")
    browser.wait_for("window.gasp && (window.gasp.ready || window.gasp.error)", timeout=180)
    load_s = time.perf_counter() - t0
    assert browser.evaluate("window.gasp.error") is None, browser.evaluate("window.gasp.error")
    browser.evaluate(f"window.gasp.setSize({SIZE}, {SIZE})")
    return load_s, browser.evaluate("window.gasp.stats")


def _shoot(browser: Chromium, avatar: Avatar, motion: Motion, yaw: float, frame: int):
    """The page's image and the project's render (rgb, alpha) of one frame from one orbit camera."""
    K, w2c = orbit_camera(yaw, 5.0, 0.65, 50.0, SIZE, SIZE)
    browser.evaluate(f"window.gasp.setCameraCV({w2c.flatten().tolist()}, {K.flatten().tolist()})")
    browser.evaluate(f"window.gasp.setFrame({frame})")
    img = _capture(browser)
    rgb, alpha = avatar.render(motion.take([frame]), K[None], w2c[None], SIZE, SIZE, BACKGROUND)
    return img, rgb[0].clamp(0, 1).numpy().astype(np.float64), alpha[0, ..., 0].numpy(), K, w2c


def test_page_matches_the_project_render(avatar, browser, tmp_path):
    motion = drive_motion(avatar.head.n_expr)
    export_page(avatar, tmp_path / "page", motion, 2.0, "drive motion", BACKGROUND)
    scores = {}
    with PageServer(tmp_path / "page") as srv:
        load_s, stats = _open(browser, srv.url)
        for name, yaw in YAWS.items():
            # side: also frame 1 (mouth open, the offset MLP at a new condition); front: also frame 2 (head turned)
            for f in {"front": (0, 2), "side": (0, 1)}.get(name, (0,)):
                t = time.perf_counter()
                img, ref, alpha, _, _ = _shoot(browser, avatar, motion, yaw, f)
                capture_s = time.perf_counter() - t
                mask = ndimage.binary_dilation(alpha > 0.05, iterations=2)
                scores[name, f] = _region_scores(img, ref, mask)
                assert np.abs(img[:4, :4].reshape(-1, 3) - BACKGROUND).max() < 2 / 255  # background matched
    for (name, f), (psnr, ssim) in scores.items():
        print(f"viewer vs gasp.model.render, {name} (yaw {YAWS[name]:.0f}), frame {f}: PSNR {psnr:.2f} dB, SSIM {ssim:.3f}")
    print(f"viewer: load {load_s:.2f} s to the ready flag (data {stats['downloadMs']:.0f} ms, first frame "
          f"{stats['firstFrameMs']:.0f} ms after the script started), capture + project render {capture_s:.2f} s, "
          f"{stats['nGaussians']} Gaussians at {SIZE}x{SIZE}")
    assert all(psnr >= 25.0 and ssim >= 0.8 for psnr, ssim in scores.values()), scores


def test_page_moves_the_mouth_not_the_back_of_the_head(avatar, browser, tmp_path):
    avatar = dataclasses.replace(avatar, mlp=None)  # the offset MLP would move every Gaussian a little
    motion = drive_motion(avatar.head.n_expr)
    export_page(avatar, tmp_path / "page", motion, 2.0, "drive motion", BACKGROUND)
    with PageServer(tmp_path / "page") as srv:
        _open(browser, srv.url)
        (img0, ref0, a0, K, w2c), (img1, ref1, a1, _, _) = (_shoot(browser, avatar, motion, 90.0, f) for f in (0, 1))
    g = posed_gaussians(avatar, motion)  # side view: mouth and back of the head both visible
    regions = avatar.binding.regions.numpy()
    mouth_ids = [avatar.region_names.index(r) for r in ("lips", "mouth")]
    mouth = _project(g["means"][np.isin(regions, mouth_ids)], K, w2c, SIZE)
    z = g["means"][:, 2]
    back = _project(g["means"][(z < np.quantile(z, 0.25)) & (g["means"][:, 1] > 0.0)], K, w2c, SIZE)  # cranium
    back &= (a0 > 0.9) & (a1 > 0.9) & ~ndimage.binary_dilation(mouth, iterations=6)
    assert mouth.sum() > 20 and back.sum() > 200
    moved, ref_moved = np.abs(img1 - img0).max(2), np.abs(ref1 - ref0).max(2)
    print(f"animation: mean change {moved[mouth].mean():.3f} on the mouth (gasp.model.render {ref_moved[mouth].mean():.3f}),"
          f" {moved[back].mean():.4f} on the back of the head; pixels changed > 4/255 there: "
          f"{(moved[back] > 4 / 255).mean():.2%} (gasp.model.render {(ref_moved[back] > 4 / 255).mean():.2%})")
    assert moved[mouth].mean() > 0.03
    assert (moved[back] > 4 / 255).mean() < 0.01
