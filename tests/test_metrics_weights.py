"""The real-weights code paths, run on weight files the tests make (random networks with the real
file names and interfaces), with the network blocked: LPIPS, clean-fid Inception, ArcFace ONNX,
`gasp weights download` (offline failure, zip extraction, checksums) and `gasp weights status`."""
from __future__ import annotations

import io
import json
import tempfile
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest
import torch

from gasp.config import MetricsConfig
from gasp.metrics import weights


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Empty caches, and any attempt to reach the network fails like it does on this machine."""
    for var in ("TORCH_HOME", "HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def no_network(url, *a, **k):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path


def face(size=128, seed=0):
    from skimage import data
    img = torch.from_numpy(data.astronaut()[20:320, 40:340]).permute(2, 0, 1)[None].float() / 255
    return torch.nn.functional.interpolate(img, size=(size, size), mode="area")


def save_alexnet_features(path):
    """A random torchvision AlexNet's state_dict; the classifier (58M of the 61M parameters, unused by
    LPIPS) is left out to keep the file small."""
    import torchvision
    torch.manual_seed(0)
    state = {k: v for k, v in torchvision.models.alexnet().state_dict().items() if k.startswith("features.")}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def test_lpips_loads_backbone_from_torch_home_offline(offline):
    from gasp.metrics.perceptual import Lpips
    from gasp.metrics.suite import MetricSuite

    cfg = MetricsConfig(weights_dir=str(offline / "weights"))
    assert MetricSuite(cfg).impls["LPIPS"].impl is None
    state = save_alexnet_features(offline / "torch_home" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth")
    suite = MetricSuite(cfg)
    assert suite.impls["LPIPS"].impl == "lpips-alex"
    assert torch.equal(suite.lpips.model.net.slice2._modules["3"].weight,
                       state["features.3.weight"])
    x = face(64)
    y = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    d = suite.image_metrics(torch.cat([x, y]), torch.cat([x, x]))["LPIPS"]
    assert d.shape == (2,) and d[0].abs() < 1e-6 and d[1] > 1e-4
    # weights_dir takes precedence over the cache, and a wrong file is a clear error
    (offline / "weights").mkdir()
    torch.save({"something": torch.zeros(1)}, offline / "weights" / "alexnet-owt-7be5be79.pth")
    with pytest.raises(RuntimeError, match="not a torchvision alex state_dict"):
        Lpips(cfg.weights_dir, "alex")


def test_lpips_loss_gradient_and_fallback(offline):
    from gasp.steps.losses import LpipsLoss

    cfg = MetricsConfig(weights_dir=str(offline / "weights"))
    with pytest.warns(UserWarning, match="LPIPS loss disabled"):
        off = LpipsLoss(cfg, 0.1)
    assert not off.available and off.weight == 0 and "alexnet-owt-7be5be79.pth" in off.reason
    x = face(64)
    assert off(x, x).item() == 0
    save_alexnet_features(offline / "weights" / "alexnet-owt-7be5be79.pth")
    on = LpipsLoss(cfg, 0.1)
    pred = (x + 0.1 * torch.randn_like(x)).clamp(0, 1).requires_grad_(True)
    loss = on(pred, x)
    loss.backward()
    assert on.available and loss.item() > 0 and pred.grad.abs().sum() > 0


def make_fake_inception(path):
    """A TorchScript module with clean-fid's Inception interface: `.layers` maps (N,3,299,299) -> (N,2048)."""
    class Layers(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3 * 8 * 8, 2048)

        def forward(self, x):
            return self.fc(torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = Layers()

        def forward(self, x, return_features: bool = False):
            return self.layers(x)

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(Net()).save(str(path))


def test_inception_features_load_from_weights_dir_offline(offline):
    from gasp.metrics.suite import MetricSuite

    cfg = MetricsConfig(weights_dir=str(offline / "weights"), fid_min_images=3)
    make_fake_inception(offline / "weights" / "inception-2015-12-05.pt")
    suite = MetricSuite(cfg)
    assert suite.impls["FID"].impl == "FID"
    x = torch.cat([face(64), face(64).flip(-1)])
    feats = suite.inception(x)
    assert feats.shape == (2, 2048) and np.isfinite(feats).all() and not np.allclose(feats[0], feats[1])
    result = suite.set_metrics(x, x)  # 2 images < fid_min_images = 3
    assert result.values["FID"] is None and "fid_min_images" in result.notes["FID"]


def make_fake_arcface(path):
    """An ONNX graph with ArcFace's interface: input (N,3,112,112) -> embedding (N,512)."""
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [147, 512], rng.normal(size=(147, 512)).astype(np.float32).ravel())
    graph = helper.make_graph(
        [helper.make_node("AveragePool", ["input.1"], ["pooled"], name="pool", kernel_shape=[16, 16], strides=[16, 16]),
         helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
         helper.make_node("MatMul", ["flat", "w"], ["683"], name="fc")],
        "arcface_stand_in",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", 512])],
        [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def test_arcface_path_runs_on_an_onnx_model_offline(offline):
    from gasp.metrics.suite import MetricSuite

    make_fake_arcface(offline / "home" / ".insightface" / "models" / "buffalo_l" / "w600k_r50.onnx")
    suite = MetricSuite(MetricsConfig(weights_dir=str(offline / "weights")))
    assert suite.impls["ID-SIM"].impl == "ArcFace" and suite.impls["ID-SIM"].column == "ID-SIM"
    x = torch.cat([face(128), face(128).flip(-1)])
    same = suite.set_metrics(x, x)
    assert same.values["ID-SIM"] == pytest.approx(1.0, abs=1e-6) and same.faces_not_found == 0
    assert set(same.values) == {"FD_dlib", "ID-SIM"}
    other = suite.set_metrics(x.roll(20, dims=-1), x)
    assert other.values["ID-SIM"] < 0.999


def test_download_offline_names_every_url(offline):
    with pytest.raises(weights.DownloadError) as e:
        weights.download(offline / "w", weights.needed_keys("alex"))
    for key in weights.needed_keys("alex"):
        for url in weights.FILES[key].urls:
            assert url in str(e.value)
    assert "Name or service not known" in str(e.value)


def test_download_extracts_zip_member_and_checks_checksums(offline, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("buffalo_l/w600k_r50.onnx", b"onnx bytes")
        z.writestr("buffalo_l/det_10g.onnx", b"other")
    served = {weights.FILES["arcface"].urls[0]: buf.getvalue(),
              weights.FILES["alexnet"].urls[0]: b"not the real alexnet"}

    def fake_urlopen(url, timeout=None):
        if url not in served:
            raise urllib.error.URLError("unreachable")
        return io.BytesIO(served[url])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    target = offline / "w"
    manifest = weights.download(target, ["arcface"])
    assert (target / "w600k_r50.onnx").read_bytes() == b"onnx bytes"
    assert manifest["w600k_r50.onnx"]["sha256"] == weights.sha256(target / "w600k_r50.onnx")
    assert json.loads((target / "manifest.json").read_text()) == manifest
    with pytest.raises(weights.DownloadError, match="does not start with 7be5be79"):
        weights.download(target, ["alexnet"])
    assert not (target / "alexnet-owt-7be5be79.pth").exists()
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "w600k_r50.onnx"]  # no temp leftovers


def test_cli_weights_status_and_download(offline, capsys):
    from gasp.cli import main

    extra = offline / "extra.yaml"
    extra.write_text(f"metrics:\n  weights_dir: {offline / 'weights'}\n")
    assert main(["weights", "status", "--configfile", str(extra)]) == 0
    status = json.loads(capsys.readouterr().out)["metrics"]
    assert {k: v["impl"] for k, v in status.items()} == {"LPIPS": None, "FID": "FD_dlib", "ID-SIM": "IDSIM_dlib"}
    assert main(["weights", "download", "--dir", str(offline / "dl")]) == 1
    err = capsys.readouterr().err
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in err
