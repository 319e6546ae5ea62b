"""What the prior's per-Gaussian features learned (`gasp prior inspect CKPT`).

- PCA of the features f (N,F) -> 3 components -> RGB, shown on the UV map and on the 3D head
  (the mean-code avatar rendered with the PCA colours from the front, the side and the back);
- a probe: k-NN on f predicting each Gaussian's region label (half the Gaussians fit, half test),
  beside the majority-class baseline and the same probe on the untrained (initial) features.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gasp.config import AvatarConfig, HeadConfig
from gasp.io import atomic_path, atomic_write_json
from gasp.model.prior import GaspPrior, read_checkpoint


def pca_rgb(features: np.ndarray) -> np.ndarray:
    """(N,F) -> (N,3) in 0..1: the first three principal components, each stretched over its 1-99 percentiles."""
    from sklearn.decomposition import PCA

    n_comp = min(3, features.shape[1])
    pc = PCA(n_components=n_comp, random_state=0).fit_transform(features)
    lo, hi = np.percentile(pc, 1, axis=0), np.percentile(pc, 99, axis=0)
    rgb = np.clip((pc - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    return np.concatenate([rgb, np.full((len(rgb), 3 - n_comp), 0.5)], 1)


def knn_probe(features: np.ndarray, labels: np.ndarray, k: int = 5, seed: int = 0) -> dict:
    """Accuracy of k-NN (features -> labels) on a held-out half, and the majority-class baseline."""
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier

    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    xtr, xte, ytr, yte = train_test_split(features, labels, test_size=0.5, random_state=seed, stratify=stratify)
    acc = float((KNeighborsClassifier(n_neighbors=k).fit(xtr, ytr).predict(xte) == yte).mean())
    majority = int(np.bincount(ytr).argmax())
    return {"accuracy": acc, "majority_baseline": float((yte == majority).mean()), "majority_label": majority,
            "n_train": len(ytr), "n_test": len(yte)}


def render_head_colours(model: GaspPrior, head_cfg: HeadConfig, avatar_cfg: AvatarConfig, rgb: np.ndarray,
                        size: int = 256, yaws_deg=(0.0, 90.0, 180.0)) -> np.ndarray:
    """(len(yaws), size, size, 3) renders of the mean-code avatar, neutral pose, coloured by `rgb` (N,3)."""
    from gasp.camera import orbit_cameras
    from gasp.model.gaussians import gaussians_from_attributes
    from gasp.model.head import build_head_model
    from gasp.model.render import render_nograd

    head = build_head_model(head_cfg)
    with torch.no_grad():
        verts = head.verts(**head.zeros(1))
        attrs = model.decode(model.mean_latent()[None])
        means, quats, scales, opac, _ = gaussians_from_attributes(attrs, verts, head.faces, model.binding,
                                                                  avatar_cfg.scale_mode)
    K, w2c = orbit_cameras(yaws_deg, 0.0, 1.0, 100.0, size, size)  # 100 mm: the head fills the frame
    img, _, _ = render_nograd(means[0], quats[0], scales[0], opac[0], torch.as_tensor(rgb, dtype=torch.float32),
                              torch.as_tensor(w2c), torch.as_tensor(K), size, size,
                              backgrounds=torch.ones(len(yaws_deg), 3))
    return img.clamp(0, 1).numpy()


def inspect_prior(checkpoint: str | Path, out_dir: str | Path, k: int = 5) -> dict:
    """Write features_pca_uv.png, features_pca_head.png and probe.json into `out_dir`; return their content."""
    blob = read_checkpoint(checkpoint)  # first: a bad file fails before the heavy imports
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    model = GaspPrior.from_checkpoint(blob, checkpoint)
    cfg = blob["meta"].get("config", {})
    feats = model.features.detach().numpy()
    labels = model.regions.numpy()
    names = model.region_names
    init = GaspPrior(model.cfg, model.template.detach(), model.n_subjects, model.face_ids, model.barys,
                     model.regions, model.uv, names, blob["init"]["seed"])

    probe = {"checkpoint": str(checkpoint), "k": k, "n_gaussians": model.n_gaussians,
             "feature_dim": feats.shape[1], **knn_probe(feats, labels, k)}
    probe["majority_region"] = names[probe.pop("majority_label")]
    probe["margin_points"] = 100 * (probe["accuracy"] - probe["majority_baseline"])
    probe["untrained_features_accuracy"] = knn_probe(init.features.detach().numpy(), labels, k)["accuracy"]
    probe["region_counts"] = {names[i]: int(c) for i, c in enumerate(np.bincount(labels, minlength=len(names)))}
    probe["steps_done"] = blob["meta"].get("steps_done")
    atomic_write_json(out / "probe.json", probe)

    rgb = pca_rgb(feats)
    uv = model.uv.numpy()
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    axes[0].scatter(uv[:, 0], uv[:, 1], c=rgb, s=2, marker="s", linewidths=0)
    axes[0].set_title("feature PCA (RGB) on the UV map")
    cmap = plt.get_cmap("tab10")
    axes[1].scatter(uv[:, 0], uv[:, 1], c=[cmap(i % 10) for i in labels], s=2, marker="s", linewidths=0)
    axes[1].set_title("region labels")
    axes[1].legend(handles=[plt.Line2D([], [], marker="s", ls="", color=cmap(i % 10), label=n)
                            for i, n in enumerate(names) if probe["region_counts"][n]], fontsize=7, loc="upper right")
    for ax in axes:
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    with atomic_path(out / "features_pca_uv.png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)

    head_cfg = HeadConfig(**cfg["head"]) if "head" in cfg else HeadConfig()
    avatar_cfg = AvatarConfig(**cfg["avatar"]) if "avatar" in cfg else AvatarConfig()
    views = render_head_colours(model, head_cfg, avatar_cfg, rgb)
    fig, axes = plt.subplots(1, len(views), figsize=(4 * len(views), 4))
    for ax, img, title in zip(axes, views, ("front", "side", "back")):
        ax.imshow(img)
        ax.set_title(f"feature PCA, {title}")
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(out / "features_pca_head.png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return {"probe": probe}
