"""The pretrained weight files behind LPIPS, FID and ArcFace: where they live, how to fetch them.

Lookup never touches the network: a file is used when it is in `metrics.weights_dir` or in the
cache its library would use (torch hub, clean-fid's temp folder, insightface's model folder).
`download` (for `gasp weights download`, on a machine with internet) fetches the missing ones into
one folder, checks the checksums that are known, and records every file's sha256 in
`manifest.json` so that a DVC-tracked copy can be verified on offline nodes.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from gasp.io import atomic_path, atomic_write_json


@dataclass(frozen=True)
class WeightFile:
    key: str
    filename: str
    urls: tuple[str, ...]        # mirrors, tried in order
    sha256_prefix: str | None    # torchvision names carry the first 8 hex digits of the sha256
    zip_member: str | None       # the file inside a zip release, when the URL is a zip
    purpose: str

    def cache_dirs(self) -> list[Path]:
        """Where the owning library would have put it (searched after weights_dir)."""
        if self.key in ("alexnet", "vgg16"):
            return [Path(torch.hub.get_dir()) / "checkpoints"]  # honours $TORCH_HOME
        if self.key == "inception":
            return [Path(tempfile.gettempdir())]  # clean-fid downloads to /tmp
        return [Path("~/.insightface/models/buffalo_l").expanduser()]


_INSIGHTFACE = "https://github.com/deepinsight/insightface/releases/download"
FILES = {f.key: f for f in [
    WeightFile("alexnet", "alexnet-owt-7be5be79.pth",
               ("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",), "7be5be79", None,
               "LPIPS (alex) backbone: torchvision AlexNet"),
    WeightFile("vgg16", "vgg16-397923af.pth",
               ("https://download.pytorch.org/models/vgg16-397923af.pth",), "397923af", None,
               "LPIPS (vgg) backbone: torchvision VGG16"),
    WeightFile("inception", "inception-2015-12-05.pt",
               ("https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",),
               None, None, "FID: clean-fid's TorchScript Inception-v3"),
    WeightFile("arcface", "w600k_r50.onnx",
               (f"{_INSIGHTFACE}/v0.7/buffalo_l.zip", f"{_INSIGHTFACE}/model-zoo/buffalo_l.zip"),
               None, "w600k_r50.onnx", "ID-SIM: ArcFace R50 (insightface buffalo_l)"),
]}
LPIPS_BACKBONE = {"alex": "alexnet", "vgg": "vgg16"}


def needed_keys(lpips_net: str) -> list[str]:
    return [LPIPS_BACKBONE[lpips_net], "inception", "arcface"]


def find(key: str, weights_dir: str | Path) -> Path | None:
    """The first existing copy of weight file `key` (weights_dir first, then caches), or None."""
    spec = FILES[key]
    for d in [Path(weights_dir), *spec.cache_dirs()]:
        path = d / spec.filename
        if path.is_file() and path.stat().st_size > 0:
            return path
    return None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class WeightsMissing(RuntimeError):
    """A metric's weights are not on this machine; the message is the reason shown as n/a."""


def missing_reason(key: str, weights_dir: str | Path) -> str:
    spec = FILES[key]
    where = ", ".join(str(d) for d in [Path(weights_dir), *spec.cache_dirs()])
    return f"{spec.filename} ({spec.purpose}) not found in {where}; run `gasp weights download`"


def require(key: str, weights_dir: str | Path) -> Path:
    """The path of weight file `key`, or WeightsMissing with the reason."""
    path = find(key, weights_dir)
    if path is None:
        raise WeightsMissing(missing_reason(key, weights_dir))
    return path


class DownloadError(RuntimeError):
    """Some weights could not be fetched; the message names every URL that failed and why."""


def _fetch(url: str, dest: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)


def _fetch_file(spec: WeightFile, dest: Path, timeout: float) -> str:
    """Try each mirror; return the URL that worked or raise DownloadError listing every failure."""
    failures = []
    for url in spec.urls:
        try:
            if spec.zip_member is None:
                _fetch(url, dest, timeout)
            else:
                with tempfile.TemporaryDirectory(dir=dest.parent) as tmpdir:
                    archive = Path(tmpdir) / "release.zip"
                    _fetch(url, archive, timeout)
                    with zipfile.ZipFile(archive) as z:
                        member = next((n for n in z.namelist() if Path(n).name == spec.zip_member), None)
                        if member is None:
                            raise DownloadError(f"{url}: no {spec.zip_member} in the archive")
                        with z.open(member) as src, atomic_path(dest) as tmp, open(tmp, "wb") as out:
                            shutil.copyfileobj(src, out, 1 << 20)
            return url
        except (urllib.error.URLError, OSError, DownloadError, zipfile.BadZipFile) as e:
            failures.append(f"{url} ({getattr(e, 'reason', e)})")
    raise DownloadError("; ".join(failures))


def download(weights_dir: str | Path, keys: list[str], timeout: float = 60.0) -> dict[str, dict]:
    """Fetch the weight files `keys` into `weights_dir` (skipping those already there), verify the
    known checksums, write `manifest.json` {filename: {"sha256", "url"}}; return the manifest.
    Raises DownloadError naming each URL that could not be reached (e.g. offline)."""
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = weights_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    errors = []
    for key in keys:
        spec = FILES[key]
        dest = weights_dir / spec.filename
        url = manifest.get(spec.filename, {}).get("url", spec.urls[0])
        if not dest.is_file():
            try:
                url = _fetch_file(spec, dest, timeout)
            except DownloadError as e:
                errors.append(f"{spec.filename} [{spec.purpose}]: {e}")
                continue
        digest = sha256(dest)
        if spec.sha256_prefix and not digest.startswith(spec.sha256_prefix):
            dest.unlink()
            errors.append(f"{spec.filename}: sha256 {digest} does not start with {spec.sha256_prefix} (deleted)")
            continue
        manifest[spec.filename] = {"sha256": digest, "url": url}
    atomic_write_json(manifest_path, manifest)
    if errors:
        raise DownloadError("could not fetch these weights:\n  " + "\n  ".join(errors))
    return manifest
