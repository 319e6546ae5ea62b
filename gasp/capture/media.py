"""Reading what a user points `gasp capture` at: one image, a folder of images, or a video file.

Images go through Pillow (EXIF orientation applied, EXIF focal length read); videos through
imageio-ffmpeg, sampled evenly to at most `max_frames` while decoding (a phone video of a minute
at 1080p would not fit in memory whole). Every failure is a `CaptureError` naming the file (and the
frame for videos).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gasp.camera import FULL_FRAME_DIAGONAL_MM

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".avi", ".gif", ".mkv", ".m4v")


class CaptureError(ValueError):
    """Unusable capture input; the message names the file (and frame) and what is wrong."""


@dataclass
class Media:
    """Decoded input: frames (T,H,W,3) uint8 RGB; names (T,) where each frame came from (file, or
    file#frame); kind "image" | "images" | "video"; focal_px the EXIF focal length in pixels or None;
    fps of a video (None for images); skipped: frames that could not be decoded, with the reason."""
    frames: np.ndarray
    names: list[str]
    kind: str
    source: Path
    focal_px: float | None = None
    fps: float | None = None
    skipped: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.frames.shape[1]

    @property
    def width(self) -> int:
        return self.frames.shape[2]


def exif_focal_px(img, width: int, height: int) -> float | None:
    """Focal length in pixels from EXIF FocalLengthIn35mmFilm (diagonal-equivalent), or None."""
    try:
        exif = img.getexif().get_ifd(0x8769)  # the Exif sub-IFD holds the focal tags
    except Exception:  # noqa: BLE001  (a damaged EXIF block must not stop the capture)
        return None
    f35 = exif.get(0xA405)  # FocalLengthIn35mmFilm
    try:
        f35 = float(f35)
    except (TypeError, ValueError):
        return None
    if not 8.0 <= f35 <= 400.0:
        return None
    return f35 / FULL_FRAME_DIAGONAL_MM * float(np.hypot(width, height))


def read_image(path: Path) -> tuple[np.ndarray, float | None]:
    """(H,W,3) uint8 RGB with the EXIF orientation applied, and the EXIF focal in pixels (or None)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            focal = exif_focal_px(img, *ImageOps.exif_transpose(img).size)
            rgb = ImageOps.exif_transpose(img).convert("RGB")
    except FileNotFoundError:
        raise CaptureError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CaptureError(f"{path}: not a readable image (corrupt or unsupported): {e}") from None
    arr = np.asarray(rgb, dtype=np.uint8)
    if min(arr.shape[:2]) < 16:
        raise CaptureError(f"{path}: image is {arr.shape[1]}x{arr.shape[0]} pixels, too small to hold a face")
    return arr, focal


def frame_name(path: Path, index: int) -> str:
    """A video frame's name, "clip.mp4#12": where it came from (summaries, error messages)."""
    return f"{path.name}#{index}"


def frame_index(name: str) -> int:
    """The frame number in a name from frame_name ("clip.mp4#12" -> 12); a still image is frame 0."""
    return int(name.rsplit("#", 1)[1]) if "#" in name else 0


def read_video(path: Path, max_frames: int) -> tuple[np.ndarray, list[str], float, list[str]]:
    """Evenly sampled frames (T,H,W,3) uint8 of a video, their names, the video's fps and skipped frames."""
    import imageio.v2 as imageio

    try:
        reader = imageio.get_reader(path, format="FFMPEG" if path.suffix.lower() != ".gif" else None)
    except FileNotFoundError:
        raise CaptureError(f"{path}: file not found") from None
    except Exception as e:  # noqa: BLE001  (imageio raises many types for bad containers)
        raise CaptureError(f"{path}: not a readable video (corrupt file or unsupported codec): "
                           f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    try:
        meta = reader.get_meta_data()
        fps = float(meta.get("fps") or 0.0) or 25.0
        total = _frame_count(reader, meta, fps)
        keep = set(np.unique(np.linspace(0, total - 1, min(max_frames, total)).round().astype(int)).tolist()) \
            if total else None
        frames, names, skipped = [], [], []
        i = -1
        while True:
            i += 1
            try:
                frame = reader.get_next_data()
            except (IndexError, StopIteration):
                break
            except Exception as e:  # noqa: BLE001  (a broken packet mid-stream)
                if not frames and i == 0:
                    raise CaptureError(f"{path}#0: could not decode the first frame (unsupported codec or "
                                       f"corrupt file): {type(e).__name__}: {e}") from None
                skipped.append(f"{frame_name(path, i)}: decode error ({type(e).__name__})")
                break
            if keep is not None and i not in keep:
                continue
            frame = np.asarray(frame)
            if frame.ndim == 2:
                frame = np.repeat(frame[..., None], 3, axis=2)
            frames.append(frame[..., :3].astype(np.uint8))
            names.append(frame_name(path, i))
    finally:
        reader.close()
    if not frames:
        raise CaptureError(f"{path}: the video has no decodable frames")
    if keep is None and len(frames) > max_frames:  # frame count unknown up front: thin out afterwards
        sel = np.unique(np.linspace(0, len(frames) - 1, max_frames).round().astype(int))
        frames, names = [frames[j] for j in sel], [names[j] for j in sel]
    return np.stack(frames), names, fps, skipped


def _frame_count(reader, meta: dict, fps: float) -> int | None:
    """The number of frames if the container says (or duration x fps), else None."""
    try:
        n = reader.count_frames()
        if n and n > 0:
            return int(n)
    except Exception:  # noqa: BLE001
        pass
    nframes = meta.get("nframes")
    if isinstance(nframes, (int, float)) and np.isfinite(nframes) and nframes > 0:
        return int(nframes)
    duration = meta.get("duration")
    if isinstance(duration, (int, float)) and duration > 0:
        return max(1, int(round(duration * fps)))
    return None


def read_media(path: str | Path, max_frames: int = 48) -> Media:
    """Decode INPUT (an image, a folder of images in name order, or a video) -> Media."""
    path = Path(path)
    if not path.exists():
        raise CaptureError(f"{path}: file not found")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise CaptureError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        if len(files) > max_frames:
            files = [files[i] for i in np.unique(np.linspace(0, len(files) - 1, max_frames).round().astype(int))]
        decoded = [read_image(p) for p in files]
        shapes = {a.shape for a, _ in decoded}
        if len(shapes) > 1:
            raise CaptureError(f"{path}: images differ in size ({', '.join(sorted(f'{s[1]}x{s[0]}' for s in shapes))}); "
                               f"a capture folder holds frames of one camera")
        focals = [f for _, f in decoded if f is not None]
        return Media(np.stack([a for a, _ in decoded]), [p.name for p in files], "images", path,
                     focals[0] if focals else None)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        arr, focal = read_image(path)
        return Media(arr[None], [path.name], "image", path, focal)
    if suffix in VIDEO_SUFFIXES:
        frames, names, fps, skipped = read_video(path, max_frames)
        if len(frames) == 1:
            return Media(frames, names, "image", path, None, fps, skipped)
        return Media(frames, names, "video", path, None, fps, skipped)
    raise CaptureError(f"{path}: unsupported file type {path.suffix!r}; give an image "
                       f"({', '.join(IMAGE_SUFFIXES)}), a video ({', '.join(VIDEO_SUFFIXES)}) or a folder of images")
