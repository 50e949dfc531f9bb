"""The table of streams: the model's roles follow it, and every place a stream touches knows
every stream in it (docs/architecture.md, "Adding a stream")."""

from __future__ import annotations

import dataclasses
from typing import get_type_hints

import torch

from extractors.registry import EXTRACTORS
from model import FSENet, FSENetConfig
from model.streams import GSP_ORDER, GUIDE_STREAM, GUIDED_STREAMS, RELEASE_FOLDERS, STREAM_NAMES, STREAMS
from pipeline.config import Config, load_config
from pipeline.data.config import DataConfig
from pipeline.data.release import FRAME_STREAM_DESCRIPTIONS, STREAM_DESCRIPTIONS
from pipeline.synthetic.release import SynthConfig, generate_videos, stream_directions, video_feature_arrays

WIDTHS = {"visual": 12, "audio": 6, "face": 10}


def test_names_roles_and_release_folders_come_from_the_table() -> None:
    assert STREAM_NAMES == tuple(stream.name for stream in STREAMS) == ("visual", "audio", "face")
    assert GUIDED_STREAMS == ("visual", "audio") and GUIDE_STREAM == "face"
    assert RELEASE_FOLDERS == {"visual": "rgb", "audio": "logmfcc", "face": "img"}  # the public releases' folders
    assert DataConfig().release_stream_folders() == RELEASE_FOLDERS
    assert FSENetConfig().streams == STREAM_NAMES
    assert sorted(stream.gsp_position for stream in STREAMS) == list(range(len(STREAMS)))


def test_every_place_a_stream_touches_knows_every_stream() -> None:
    assert list(EXTRACTORS) == list(STREAM_NAMES)
    assert all(EXTRACTORS[name].name == name for name in STREAM_NAMES)
    config = load_config()
    sections = get_type_hints(Config)
    for name in STREAM_NAMES:
        assert dataclasses.is_dataclass(sections[name]), f"Config has no section {name!r} (its extractor's settings)"
        assert getattr(config.data, f"release_{name}_folder") == RELEASE_FOLDERS[name]
        assert name in STREAM_DESCRIPTIONS and name in FRAME_STREAM_DESCRIPTIONS
    assert config.extract.streams and set(config.extract.streams) <= set(STREAM_NAMES)
    synth = SynthConfig(num_videos=2, scale=0.05)  # the synthetic release writes every stream by default
    assert synth.streams == STREAM_NAMES
    arrays = video_feature_arrays(generate_videos(synth)[0], 0, synth, stream_directions(synth))
    assert list(arrays) == list(STREAM_NAMES) and all(array.size for array in arrays.values())


def _gsp_model() -> FSENet:
    """A model whose GSP sees only the first d channels of its input (the first stream of
    GSP_ORDER): every other input weight of its encoder is zero."""
    torch.manual_seed(0)
    model = FSENet(FSENetConfig(d_model=8, num_heads=2, dropout=0.0, use_fci=False), WIDTHS).eval()
    with torch.no_grad():
        model.gsp.encoder.weight[:, 8:] = 0.0
    return model


def test_gsp_reads_the_streams_in_the_tables_gsp_order() -> None:
    model = _gsp_model()
    generator = torch.Generator().manual_seed(1)
    features = {name: torch.randn(1, 10, width, generator=generator) for name, width in WIDTHS.items()}
    w_sent = model(features).w_sent
    first, *others = GSP_ORDER
    assert first == "audio"  # a checkpoint's GSP weights were trained in this order
    changed = model({**features, first: features[first] + 3.0}).w_sent
    assert not torch.allclose(changed, w_sent)
    for name in others:
        unchanged = model({**features, name: features[name] + 3.0}).w_sent
        torch.testing.assert_close(unchanged, w_sent)


def test_fci_stage_two_lets_each_guided_stream_query_the_other() -> None:
    torch.manual_seed(0)
    model = FSENet(FSENetConfig(d_model=8, num_heads=2, dropout=0.0), WIDTHS).eval()
    assert model.fci.partners == {"visual": "audio", "audio": "visual"}
    one_stream = FSENet(FSENetConfig(d_model=8, num_heads=2, dropout=0.0, streams=("visual", "face")), WIDTHS)
    assert one_stream.fci.partners == {} and len(one_stream.fci.cross_guided) == 0
