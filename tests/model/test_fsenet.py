"""FSENet forward: shapes, padding invariance, the face-presence rule, every switch, autocast, TSL-300 size."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import torch

from model import FSENet, FSENetConfig, FSENetOutput, PointLabels, fsenet_loss


def run(model: FSENet, batch: dict) -> FSENetOutput:
    return model(batch["features"], batch["padding_mask"], batch["face_mask"])


def assert_same_at_real(first: FSENetOutput, second: FSENetOutput, padding_mask: torch.Tensor) -> None:
    real = padding_mask
    for name in ("cas", "global_cas", "w_sent", "embeddings"):
        torch.testing.assert_close(getattr(first, name)[real], getattr(second, name)[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(first.video_scores, second.video_scores, atol=1e-5, rtol=1e-5)


def test_output_shapes_ranges_and_zero_padding(make_model: Callable, two_video_batch: dict) -> None:
    model = make_model()
    output = run(model, two_video_batch)
    batch, num_snippets = two_video_batch["padding_mask"].shape
    assert output.cas.shape == (batch, num_snippets, 3)
    assert output.global_cas.shape == (batch, num_snippets, 3)
    assert output.w_sent.shape == (batch, num_snippets)
    assert output.embeddings.shape == (batch, num_snippets, model.embedding_width)
    assert model.embedding_width == 2 * 16
    assert output.video_scores.shape == (batch, 3)
    real = two_video_batch["padding_mask"]
    assert ((output.cas >= 0) & (output.cas <= 1)).all()
    torch.testing.assert_close(output.embeddings[real].norm(dim=-1), torch.ones(int(real.sum())))
    for tensor in (output.cas, output.global_cas, output.w_sent, output.embeddings):
        assert (tensor[~real] == 0).all()
    # y~ = [W_sent * y_{1:C}; (1 - W_sent) * y_{C+1}]
    gate = output.w_sent[..., None]
    expected = torch.cat([gate * output.cas[..., :2], (1 - gate) * output.cas[..., 2:]], dim=-1)
    torch.testing.assert_close(output.global_cas, expected)
    # a batch dict works as the only argument
    batch_dict = {**two_video_batch["features"], "padding_mask": real, "face_mask": two_video_batch["face_mask"]}
    dict_output = model(batch_dict)
    torch.testing.assert_close(dict_output.cas, output.cas)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"use_fci": False}, {"fci_stages": 1}, {"use_gsp": False}, {"streams": ("visual", "audio")},
     {"embedding_dim": 8}, {"pseudo_labels": "hard"}],
)
def test_padded_values_change_no_output_and_no_loss(
    make_model: Callable, two_video_batch: dict, overrides: dict
) -> None:
    model = make_model(**overrides)
    config = model.config
    padding_mask = two_video_batch["padding_mask"]
    points = two_video_batch["points"]
    clean = run(model, two_video_batch)

    generator = torch.Generator().manual_seed(7)
    noisy_batch = dict(two_video_batch)
    noisy_batch["features"] = {
        name: torch.where(padding_mask[..., None], values, 100 * torch.randn(values.shape, generator=generator))
        for name, values in two_video_batch["features"].items()
    }
    noisy_batch["face_mask"] = torch.where(padding_mask, two_video_batch["face_mask"], torch.rand(padding_mask.shape))
    noisy = run(model, noisy_batch)
    assert_same_at_real(clean, noisy, padding_mask)
    clean_losses = fsenet_loss(clean, config, points)
    noisy_losses = fsenet_loss(noisy, config, points)
    for name, value in clean_losses.items():
        torch.testing.assert_close(value, noisy_losses[name], atol=1e-5, rtol=1e-5)

    # the short video alone, unpadded, gives the same outputs and losses as inside the batch
    alone_features = {name: values[1:, :17] for name, values in two_video_batch["features"].items()}
    alone = model(alone_features, torch.ones(1, 17, dtype=torch.bool), two_video_batch["face_mask"][1:, :17])
    padded_alone = model(
        {name: values[1:] for name, values in two_video_batch["features"].items()},
        padding_mask[1:],
        two_video_batch["face_mask"][1:],
    )
    for name in ("cas", "w_sent", "embeddings"):
        torch.testing.assert_close(getattr(alone, name)[0], getattr(clean, name)[1, :17], atol=1e-5, rtol=1e-5)
    second_points = PointLabels(*(field[1:] for field in points))
    for name, value in fsenet_loss(alone, config, second_points).items():
        torch.testing.assert_close(value, fsenet_loss(padded_alone, config, second_points)[name], atol=1e-5, rtol=1e-5)


def test_face_mask_rule(make_model: Callable, two_video_batch: dict) -> None:
    model = make_model()
    padding_mask = two_video_batch["padding_mask"]
    features = two_video_batch["features"]
    no_face = torch.zeros_like(two_video_batch["face_mask"])
    changed = {**features, "face": torch.randn(features["face"].shape)}
    # no face anywhere: the face features are never read
    assert_same_at_real(model(features, padding_mask, no_face), model(changed, padding_mask, no_face), padding_mask)
    # faces present: they are the query
    with_face = torch.ones_like(no_face)
    assert not torch.allclose(model(features, padding_mask, with_face).cas, model(changed, padding_mask, with_face).cas)
    # a snippet without a face ignores whatever its face row holds (also through the conv kernel)
    only_one_changed = features["face"].clone()
    only_one_changed[0, 10] += 50.0
    partial = with_face.clone()
    partial[0, 10] = 0.0
    assert_same_at_real(
        model(features, padding_mask, partial),
        model({**features, "face": only_one_changed}, padding_mask, partial),
        padding_mask,
    )
    # face_mask defaults to "a face everywhere"
    torch.testing.assert_close(model(features, padding_mask).cas, model(features, padding_mask, with_face).cas)


def zero_attention_outputs(model: FSENet, group: str) -> None:
    """Make F' = F (or F'' = F') by zeroing the attention's output projection."""
    with torch.no_grad():
        for block in getattr(model.fci, group).values():
            block.attention.out_proj.weight.zero_()
            block.attention.out_proj.bias.zero_()


def test_use_fci_false_is_gsp_only(make_model: Callable, two_video_batch: dict) -> None:
    model = make_model(use_fci=False)
    assert model.fci is None
    features, padding_mask = two_video_batch["features"], two_video_batch["padding_mask"]
    face_mask = torch.ones_like(two_video_batch["face_mask"])
    changed = {**features, "face": torch.randn(features["face"].shape)}
    first, second = model(features, padding_mask, face_mask), model(changed, padding_mask, face_mask)
    torch.testing.assert_close(first.cas, second.cas)  # the face feeds no attention ...
    assert not torch.allclose(first.w_sent, second.w_sent)  # ... only GSP
    full = make_model(use_fci=True)
    full.load_state_dict(model.state_dict(), strict=False)
    assert not torch.allclose(run(full, two_video_batch).cas, run(model, two_video_batch).cas)
    zero_attention_outputs(full, "face_guided")
    zero_attention_outputs(full, "cross_guided")
    torch.testing.assert_close(run(full, two_video_batch).cas, run(model, two_video_batch).cas)


def test_fci_one_stage_skips_stage_two(make_model: Callable, two_video_batch: dict) -> None:
    one_stage = make_model(fci_stages=1)
    assert len(one_stage.fci.cross_guided) == 0 and len(one_stage.fci.face_guided) == 2
    two_stage = make_model(fci_stages=2)
    two_stage.load_state_dict(one_stage.state_dict(), strict=False)
    assert not torch.allclose(run(two_stage, two_video_batch).cas, run(one_stage, two_video_batch).cas)
    zero_attention_outputs(two_stage, "cross_guided")
    torch.testing.assert_close(run(two_stage, two_video_batch).cas, run(one_stage, two_video_batch).cas)


def test_use_gsp_false(make_model: Callable, two_video_batch: dict) -> None:
    model = make_model(use_gsp=False)
    assert model.gsp is None
    output = run(model, two_video_batch)
    torch.testing.assert_close(output.w_sent, two_video_batch["padding_mask"].float())
    torch.testing.assert_close(output.global_cas, output.cas)
    losses = fsenet_loss(output, model.config, two_video_batch["points"])
    assert losses["frame_glo"] == 0 and losses["frame"] > 0 and torch.isfinite(losses["sc"])


@pytest.mark.parametrize(
    "streams", [("visual", "audio"), ("visual",), ("audio",), ("visual", "face"), ("audio", "face")]
)
def test_stream_subsets(make_model: Callable, two_video_batch: dict, streams: tuple[str, ...]) -> None:
    model = make_model(streams=streams)
    features = {name: two_video_batch["features"][name] for name in streams}
    output = model(features, two_video_batch["padding_mask"], two_video_batch["face_mask"])
    guided = [name for name in streams if name != "face"]
    assert model.embedding_width == 16 * len(guided)
    assert len(model.fci.face_guided) == (len(guided) if "face" in streams else 0)
    assert len(model.fci.cross_guided) == (2 if len(guided) == 2 else 0)
    assert ("face_query" in dict(model.named_children())) == ("face" in streams)
    losses = fsenet_loss(output, model.config, two_video_batch["points"])
    losses["total"].backward()
    assert all(torch.isfinite(value) for value in losses.values())


def test_input_errors_are_one_line(make_model: Callable, two_video_batch: dict) -> None:
    model = make_model()
    features = dict(two_video_batch["features"])
    with pytest.raises(ValueError, match="lacks stream 'face'"):
        model({"visual": features["visual"], "audio": features["audio"]})
    with pytest.raises(ValueError, match="stream 'audio' has shape"):
        model({**features, "audio": torch.zeros(2, 24, 7)})
    with pytest.raises(ValueError, match="stream_dims lacks the width of stream\\(s\\) face"):
        FSENet(FSENetConfig(), {"visual": 4, "audio": 4})


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_finite_gradients_under_cpu_autocast(make_model: Callable, two_video_batch: dict, dtype: torch.dtype) -> None:
    model = make_model().train()
    try:
        with torch.autocast("cpu", dtype=dtype):
            output = run(model, two_video_batch)
            losses = fsenet_loss(output, model.config, two_video_batch["points"])
    except RuntimeError as error:  # pragma: no cover - depends on the torch build
        pytest.skip(f"CPU autocast in {dtype} is not supported here: {error}")
    assert all(value.dtype == torch.float32 and torch.isfinite(value) for value in losses.values())
    losses["total"].backward()
    gradients = [parameter.grad for parameter in model.parameters() if parameter.grad is not None]
    assert gradients and all(torch.isfinite(gradient).all() for gradient in gradients)
    assert any(gradient.abs().sum() > 0 for gradient in gradients)


def test_tsl300_sized_forward_backward() -> None:
    """One TSL-300-sized video (T = 2131, I3D 2048 / audio 160 / face 1024, d = 512) on CPU."""
    torch.manual_seed(0)
    config = FSENetConfig()
    model = FSENet(config, {"visual": 2048, "audio": 160, "face": 1024}).train()
    num_snippets = 2131
    features = {
        "visual": torch.randn(1, num_snippets, 2048),
        "audio": torch.randn(1, num_snippets, 160),
        "face": torch.randn(1, num_snippets, 1024),
    }
    face_mask = (torch.rand(1, num_snippets) > 0.2).float()
    points = PointLabels(
        torch.tensor([[100, 700, 1500, 2000]]), torch.tensor([[0, 1, 1, 0]]), torch.ones(1, 4, dtype=torch.bool)
    )
    started = time.perf_counter()
    output = model(features, face_mask=face_mask)
    losses = fsenet_loss(output, config, points)
    losses["total"].backward()
    elapsed = time.perf_counter() - started
    assert output.cas.shape == (1, num_snippets, 3)
    assert all(torch.isfinite(value) for value in losses.values())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    print(f"TSL-300-sized forward+backward: {elapsed:.1f} s")


def test_fci_residual_gate_starts_as_the_identity(make_model, two_video_batch) -> None:
    gated = make_model(fci_residual_gate=True)
    without_fci = make_model(use_fci=False)
    without_fci.load_state_dict({k: v for k, v in gated.state_dict().items() if not k.startswith("fci.")})
    inputs = (two_video_batch["features"], two_video_batch["padding_mask"], two_video_batch["face_mask"])
    torch.testing.assert_close(gated(*inputs).cas, without_fci(*inputs).cas)
    gates = [module.gate for module in gated.modules() if getattr(module, "gate", None) is not None]
    assert len(gates) == 4 and all(gate.requires_grad for gate in gates)
