"""GaspPrior: decoding, the split first layer, zero start, save/load (synthetic tensors only)."""
import dataclasses

import pytest
import torch

from gasp.config import PriorConfig
from gasp.model.prior import CheckpointError, GaspPrior, read_checkpoint

REGIONS = ["face", "scalp", "ears"]


def make_prior(n=50, a=14, j=3, seed=0, **cfg) -> GaspPrior:
    cfg = dataclasses.replace(PriorConfig(latent_dim=16, hidden_dim=32, hidden_layers=2), **cfg)
    g = torch.Generator().manual_seed(1)
    return GaspPrior(cfg, torch.randn(n, a, generator=g), j, torch.arange(n), torch.full((n, 3), 1 / 3),
                     torch.arange(n) % len(REGIONS), torch.rand(n, 2, generator=g), REGIONS, seed)


def test_untrained_prior_decodes_to_the_template():
    m = make_prior()
    attrs, z = m(torch.tensor([0, 2, 0]))
    assert attrs.shape == (3, 50, 14) and z.shape == (3, 16)
    assert torch.equal(attrs, m.template.expand(3, -1, -1))


def test_decode_equals_unsplit_mlp():
    m = make_prior()
    with torch.no_grad():
        m.out.weight.normal_()
    z = torch.randn(2, 16)
    # the unsplit first layer: [f, z] @ [W_f, W_z]^T + b
    w = torch.cat([m.first_f.weight, m.first_z.weight], 1)
    x = torch.cat([m.features.expand(2, -1, -1), z[:, None].expand(-1, 50, -1)], -1)
    h = torch.nn.functional.silu(x @ w.T + m.first_z.bias)
    for layer in m.hidden:
        h = torch.nn.functional.silu(layer(h))
    assert torch.allclose(m.decode(z), m.template + m.out(h), atol=1e-5)


def test_repeated_subjects_decoded_once_and_gradients_reach_all_parts():
    m = make_prior()
    calls = []
    m.first_z.register_forward_hook(lambda mod, inp, out: calls.append(inp[0].shape[0]))
    attrs, z = m(torch.tensor([1, 1, 2]))
    assert calls == [2]
    assert torch.equal(attrs[0], attrs[1])
    (attrs.square().sum() + z.square().sum()).backward()
    assert m.out.weight.grad.abs().sum() > 0 and m.template.grad.abs().sum() > 0
    assert m.latents.grad[0].abs().sum() == 0 and m.latents.grad[1].abs().sum() > 0


def test_scalp_and_displacement_weights():
    m = make_prior()
    assert torch.equal(m.scalp, m.regions == 1)
    w = m.displacement_weights(0.01)
    assert torch.all(w[m.scalp] == 0.01) and torch.all(w[~m.scalp] == 1)


def test_same_seed_same_init():
    a, b = make_prior(seed=3), make_prior(seed=3)
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), k
    assert not torch.equal(a.features, make_prior(seed=4).features)


def test_save_load_roundtrip(tmp_path):
    m = make_prior()
    with torch.no_grad():
        m.out.bias.fill_(0.5)
    m.save(tmp_path / "p.pt", meta={"note": "x"})
    m2, meta = GaspPrior.load(tmp_path / "p.pt")
    assert meta == {"note": "x"}
    assert m2.cfg == m.cfg and m2.region_names == REGIONS
    z = torch.randn(2, 16)
    assert torch.equal(m2.decode(z), m.decode(z))
    assert torch.equal(m2.mean_latent(), m.mean_latent())


def test_bad_checkpoints_name_the_file(tmp_path):
    m = make_prior()
    p = tmp_path / "p.pt"
    m.save(p)
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(p.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="trunc.pt"):
        read_checkpoint(trunc)
    with torch.no_grad():
        m.features[0, 0] = float("nan")
    m.save(tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="nan.pt.*features"):
        GaspPrior.load(tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="missing.pt"):
        GaspPrior.load(tmp_path / "missing.pt")


def test_decoder_parameters_are_the_mlp_only():
    m = make_prior()
    ids = {id(p) for p in m.decoder_parameters()}
    assert ids.isdisjoint({id(m.template), id(m.features), id(m.latents)})
    assert len(ids) + 3 == len(list(m.parameters()))
