"""The interface every stream extractor implements, and the registry that names them."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from extractors.decode import DecodeConfig, VideoProbe
from extractors.grid import SnippetGrid

ProgressCallback = Callable[[int], None]  # called with the number of snippets just finished


class ExtractorSettingsError(ValueError):
    """Settings an extractor cannot run with on this device; the message names the setting and the fix."""


@dataclass
class StreamFeatures:
    """What one extractor produced for one video.

    features: (T, D) float32, one row per snippet.
    mask: (T,) float32 in [0, 1]: how much real signal each snippet had (0 = none, e.g. no
        sound or no face); None when the stream always has signal.
    extras: further (T, k) float32 arrays cached beside the features (e.g. emotion
        probabilities), keyed by a short name.
    """

    features: np.ndarray
    mask: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class InputBatch:
    """One forward pass of a video's network inputs, made on the CPU side (picklable).

    snippets: (N,) int64, the snippet of each row; inputs: (N, ...) the network's input
    rows (uint8 clips for the visual stream, float32 faces for the face stream)."""

    snippets: np.ndarray
    inputs: np.ndarray


class InputMaker(ABC):
    """The CPU half of a stream that runs a network: decoding and preprocessing, no network.

    Built from the settings alone (`StreamExtractor.input_maker`), so a worker process can
    make the inputs while one network, elsewhere, embeds those of many videos. Its batches
    are exactly the forward passes `StreamExtractor.extract` runs for the video, so both
    paths compute identical arrays."""

    @abstractmethod
    def batches(self, probe: VideoProbe, grid: SnippetGrid) -> Iterator[InputBatch]:
        """The video's network inputs, batch by batch, in the order `extract` embeds them."""


class FeatureAssembler(ABC):
    """The network half's per-video state: embedded batches in, StreamFeatures out."""

    @abstractmethod
    def add(self, batch: InputBatch, outputs: tuple[np.ndarray, ...]) -> None:
        """Take `outputs` (StreamExtractor.embed_inputs of batch.inputs), in batch order."""

    @abstractmethod
    def result(self) -> StreamFeatures:
        """The video's features once every batch was added."""


class StreamExtractor(ABC):
    """One stream: a function from a decoded video on a snippet grid to a (T, D) array.

    Subclasses set `name` (also the name of their config section), `version` (bumped
    when the output changes for the same config), and `runtime_fields` (config fields that
    change speed but never the numbers, left out of the identity).
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    runtime_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: Any, decode: DecodeConfig, device: str = "cpu", allow_random_weights: bool = False):
        self.settings = settings
        self.decode = decode
        self.device = device
        self.allow_random_weights = allow_random_weights

    @property
    @abstractmethod
    def output_dim(self) -> int:
        """D, the width of each feature row."""

    def weights_identity(self) -> dict | None:
        """{"sha256": ..., "source": ...} of the weights used, {"random": True, ...} for
        random weights, None for extractors without weights."""
        return None

    def identity(self) -> dict:
        """Everything that decides the numbers: recorded in the cache, compared on reruns."""
        return identity_record(type(self), self.settings, self.output_dim, self.weights_identity())

    @classmethod
    def planned_identity(cls, settings: Any, decode: DecodeConfig, allow_random_weights: bool) -> dict | None:
        """The identity an extractor built from these settings will have, known without
        building it (no network loaded, no torch imported): what lets a rerun with nothing
        to do build no network. None (the default) when only building it tells; then the
        extractor is built before the first video. Raises what the constructor would for
        missing weights (WeightsError)."""
        return None

    @classmethod
    def compute_precision(cls, settings: Any, device: str) -> str:
        """The number format its network computes in on `device` ("fp32", "bf16", "fp16"),
        for the line that says where a run computes; fp32 unless a stream says otherwise."""
        return "fp32"

    @abstractmethod
    def extract(self, probe: VideoProbe, grid: SnippetGrid, progress: ProgressCallback) -> StreamFeatures:
        """Features for every snippet of `grid` (exactly grid.num_snippets rows)."""

    # -- the split into a CPU half and a network half (the concurrent local engine) ------
    @classmethod
    def input_maker(cls, settings: Any, decode: DecodeConfig, device: str = "cpu") -> InputMaker | None:
        """The stream's CPU half, built without its network, batching for a network on
        `device`; None (the default) for a stream with no network to share (it runs whole
        where the inputs are made)."""
        return None

    def embed_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        """The network half: one InputBatch's inputs -> its outputs (for `assembler`)."""
        raise NotImplementedError(f"the {self.name} stream has no network half")

    def assembler(self, grid: SnippetGrid) -> FeatureAssembler:
        """A new per-video FeatureAssembler for a video on `grid`."""
        raise NotImplementedError(f"the {self.name} stream has no network half")


def extract_in_halves(extractor: StreamExtractor, maker: InputMaker, probe: VideoProbe,
                      grid: SnippetGrid) -> StreamFeatures:
    """`extractor.extract` done by its two halves in turn, in one process: what the
    concurrent engine does across processes (tests compare the two paths with it)."""
    assembler = extractor.assembler(grid)
    for batch in maker.batches(probe, grid):
        assembler.add(batch, extractor.embed_inputs(batch.inputs))
    return assembler.result()


def identity_record(extractor_class: type[StreamExtractor], settings: Any, output_dim: int,
                    weights: dict | None) -> dict:
    """The identity dict of `extractor_class` with `settings` (minus its runtime fields),
    width `output_dim` and weights identity `weights`: one function for the built and the
    planned identity, so the two cannot drift apart."""
    config = {
        key: value for key, value in dataclasses.asdict(settings).items() if key not in extractor_class.runtime_fields
    }
    return {
        "name": extractor_class.name,
        "version": extractor_class.version,
        "output_dim": output_dim,
        "config": config,
        "weights": weights,
    }
