"""LPIPS (Zhang et al. 2018) with the `lpips` package, loaded from local files only.

lpips ships its linear-layer weights (lpips/weights/v0.1/<net>.pth) but builds the backbone with
torchvision's `pretrained=True`, which downloads. We build it with a random backbone
(`pnet_rand=True`, no network) and load the torchvision backbone state_dict from the file that
`gasp.metrics.weights` found; lpips's slices keep torchvision's layer indices
(`net.slice2.3.weight` <- `features.3.weight`), so the mapping is by name.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from gasp.metrics import weights
from gasp.metrics.images import check_pair


class Lpips(torch.nn.Module):
    """LPIPS distance per image. Raises weights.WeightsMissing when a weight file is absent."""

    def __init__(self, weights_dir: str | Path, net: str = "alex"):
        super().__init__()
        backbone = weights.require(weights.LPIPS_BACKBONE[net], weights_dir)  # before the slow imports
        import lpips

        linear = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
        if not linear.is_file():
            raise weights.WeightsMissing(f"lpips's linear layers {linear} are missing from the lpips package")
        with warnings.catch_warnings():  # torchvision's 'pretrained' deprecation, inside lpips
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net=net, pnet_rand=True, model_path=str(linear), verbose=False)
        state = torch.load(backbone, map_location="cpu", weights_only=True)
        try:
            net_state = {k: state["features." + k.split(".", 1)[1]] for k in model.net.state_dict()}
            model.net.load_state_dict(net_state)
        except (KeyError, RuntimeError) as e:
            raise RuntimeError(f"{backbone}: not a torchvision {net} state_dict ({e})") from None
        self.model = model.eval().requires_grad_(False)
        self.impl = f"lpips-{net}"
        self.files = [backbone, linear]

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """pred, gt: (B,3,H,W) in [0,1] -> (B,) distances (0 for identical images); differentiable
        with respect to pred (the network itself is frozen)."""
        check_pair(pred, gt)
        self.model.to(pred.device)
        return self.model(pred.float(), gt.float(), normalize=True).flatten()
