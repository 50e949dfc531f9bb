"""The extractors of a run, planned: each stream's identity (what the cache records and
compares: settings, version, width, the weights' sha256) is known before any network is
built, and a network is built on the first video that needs it.

So a rerun with nothing to extract builds no network and imports no torch, and `localize`
compares this machine's extractors with a checkpoint's without loading them. A stream
whose class cannot tell its identity without building (`planned_identity` is None) is
built at once, as before. The device is resolved, and said once ("device: cpu, fp32"), when
the first network is built; with --device auto a run that builds none never asks torch.
"""

from __future__ import annotations

from typing import Any

from cache.identity import ExtractorIdentity, canonical
from extractors.base import ExtractorSettingsError, ProgressCallback, StreamExtractor, StreamFeatures
from extractors.decode import DecodeConfig, VideoProbe, resolve_hardware_decode
from extractors.grid import SnippetGrid
from extractors.registry import EXTRACTORS
from pipeline.config import Config, ConfigError
from pipeline.console import random_weights_warning, to_stderr
from pipeline.devices import device_line, resolve_device


class ExtractorSetupError(Exception):
    """Building a network failed (missing GPU, unreadable checkpoint): the whole run stops
    with `error`, the original user-facing error, instead of failing video after video."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


class RunDevice:
    """The device a run's networks share: resolved from the user's choice (auto, cpu,
    cuda, cuda:N) when first needed, and said once with each network's precision."""

    def __init__(self, choice: str, networks: dict[str, tuple[type[StreamExtractor], Any]], log=to_stderr):
        self.choice = choice
        self.networks = networks  # stream -> (extractor class, settings), for the precision words
        self.log = log
        self.resolved: str | None = None

    def resolve(self) -> str:
        if self.resolved is None:
            device = resolve_device(self.choice)
            self.log(device_line(device, self.precision_words(device)))
            self.resolved = device
        return self.resolved

    def precision_words(self, device: str) -> str:
        """"fp32" when every network computes alike, else "bf16 (visual), fp32 (face)"."""
        by_precision: dict[str, list[str]] = {}
        for stream, (extractor_class, settings) in self.networks.items():
            by_precision.setdefault(extractor_class.compute_precision(settings, device), []).append(stream)
        if len(by_precision) <= 1:
            return next(iter(by_precision), "fp32")
        return ", ".join(f"{precision} ({', '.join(streams)})" for precision, streams in by_precision.items())


class PlannedExtractor:
    """One stream of a run: its identity now, its extractor (network) when first used.

    Offers what the engines use of an extractor: identity(), weights_identity(),
    output_dim, extract(); build() returns the real StreamExtractor.
    """

    def __init__(self, stream: str, settings: Any, decode: DecodeConfig, allow_random_weights: bool):
        self.name = stream
        self.extractor_class = EXTRACTORS[stream]
        self.settings = settings
        self.decode = decode
        self.allow_random_weights = allow_random_weights
        try:
            self.planned = self.extractor_class.planned_identity(settings, decode, allow_random_weights)
        except ExtractorSettingsError as error:
            raise ConfigError(str(error)) from None
        self.device: RunDevice | None = None
        self.built: StreamExtractor | None = None

    @property
    def runs_network(self) -> bool:
        """Has weights, or cannot tell before it is built (then assume a network)."""
        return self.planned is None or self.planned.get("weights") is not None

    def build(self) -> StreamExtractor:
        """The extractor, built on the first call (on the run's device)."""
        if self.built is None:
            try:
                device = self.device.resolve() if self.device is not None and self.runs_network else "cpu"
                built = self.extractor_class(self.settings, self.decode, device, self.allow_random_weights)
            except ExtractorSettingsError as error:
                raise ConfigError(str(error)) from None
            if self.planned is not None and canonical(built.identity()) != canonical(self.planned):
                raise RuntimeError(f"{self.name}: the built extractor's identity differs from its planned identity "
                                   "(a bug in planned_identity)")
            self.built = built
        return self.built

    def identity(self) -> dict:
        return self.planned if self.planned is not None else self.build().identity()

    def weights_identity(self) -> dict | None:
        return self.identity().get("weights")

    @property
    def output_dim(self) -> int:
        return int(self.identity()["output_dim"])

    def ready(self) -> StreamExtractor:
        """build(), its failure raised as ExtractorSetupError (the run stops: it would fail
        every video alike)."""
        try:
            return self.build()
        except Exception as error:
            raise ExtractorSetupError(error) from error

    def extract(self, probe: VideoProbe, grid: SnippetGrid, progress: ProgressCallback) -> StreamFeatures:
        return self.ready().extract(probe, grid, progress)


def make_extractors(
    config: Config, device: str, allow_random_weights: bool, log=to_stderr, lazy: bool = True,
    say_device: bool = True,
) -> dict[str, PlannedExtractor]:
    """One planned extractor per stream of `config.extract.streams` (weights resolved now,
    so a missing file stops the run before any video). `device`: the user's choice or a
    resolved device. lazy=False builds every network now (the Ray engine's model workers
    load once, before their first video); say_device=False: no "device:" line (the Ray
    driver, whose checks are not where the networks run). decode.hardware is resolved here
    (auto or cuda: NVDEC where this machine's ffmpeg can use it, else the CPU, said in one line)."""
    decode, note = resolve_hardware_decode(config.decode)
    if note:
        log(f"note: {note}")
    planned = {stream: PlannedExtractor(stream, getattr(config, stream), decode, allow_random_weights)
               for stream in config.extract.streams}
    networks = {stream: (p.extractor_class, p.settings) for stream, p in planned.items() if p.runs_network}
    run_device = RunDevice(device, networks, log if say_device else lambda message: None)
    for extractor in planned.values():
        extractor.device = run_device
        if extractor.planned is None or not lazy:
            extractor.build()
    random_streams = [stream for stream, p in planned.items() if ExtractorIdentity(p.identity()).is_random]
    if random_streams:
        log(random_weights_warning(random_streams))  # one line for them all (the cache records it per stream)
    return planned
