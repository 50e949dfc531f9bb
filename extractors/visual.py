"""Visual stream: one I3D R50 (Kinetics-400) feature per snippet, batched and pipelined.

For snippet i (centre c_i = (i + 0.5) * snippet_seconds) the clip is `frames_per_clip`
frames spaced `frame_spacing` frames apart at `sampling_fps`, centred on c_i: frame k
(k = 0 .. F-1) is the video at c_i + (k - (F - 1) / 2) * frame_spacing / sampling_fps
seconds, taken as the nearest frame of the video resampled to `sampling_fps` by ffmpeg.
Clips reaching past either end of the video repeat the edge frame (indices clamp).

The defaults are the checkpoint's own sampling and preprocessing, checked against
PySlowFast's configs for this checkpoint and pytorchvideo's own hub tutorial:
- SlowFast configs/Kinetics/pytorchvideo/I3D_8x8_R50.yaml and configs/Kinetics/
  I3D_8x8_R50.yaml: DATA.NUM_FRAMES 8, DATA.SAMPLING_RATE 8, TRAIN_JITTER_SCALES
  [256, 320], TEST_CROP_SIZE 256; slowfast/config/defaults.py: DATA.TARGET_FPS 30,
  DATA.MEAN [0.45] * 3, DATA.STD [0.225] * 3 (RGB order, INPUT_CHANNEL_NUM [3]).
- SlowFast slowfast/datasets/ptv_datasets.py (Ptvkinetics, the dataset the pytorchvideo
  zoo numbers were measured with), test mode: clip_duration = NUM_FRAMES * SAMPLING_RATE
  / TARGET_FPS (64 / 30 = 2.13 s), UniformTemporalSubsample(8), x / 255,
  NormalizeVideo(MEAN, STD), ShortSideScale(TRAIN_JITTER_SCALES[0] = 256),
  UniformCropVideo(TEST_CROP_SIZE = 256).
- pytorchvideo docs tutorial_torchhub_inference.md: side_size 256, crop_size 256,
  mean [0.45] * 3, std [0.225] * 3, num_frames 8, sampling_rate 8, frames_per_second 30.
Two deliberate differences, both documented: ffmpeg scales with its `area` filter
(antialiased) on uint8 frames before normalizing, where the tutorial normalizes then
scales bilinearly (scaling and per-channel normalizing commute, up to uint8 rounding);
and one centre crop per snippet instead of three spatial crops per clip.

Speed: a background thread reads frames from the ffmpeg decoder, keeps only the frames
some clip needs (memory is flat in video length), and packs uint8 clips into batches,
across snippets and across videos (`extract_many`), while the main thread runs the
network. The network has its BatchNorms folded into the convolutions and runs where
`visual.runtime` says (extractors/i3d_runtime.py): on the CPU by default in OpenVINO,
from I3D exported once to ONNX (the fastest runtime measured on CPU, docs/benchmarks.md),
else in torch (ReLUs in place, channels-last-3d layout). It computes in bf16 where the
hardware does it natively (CUDA; CPUs with AVX512-BF16/AMX), fp16 on older GPUs, fp32
otherwise, on every core this process may run on. uint8 frames travel to the network and
are normalized there. Runtimes and precisions agree within cosine 0.999 per snippet, so
neither is part of the cache identity.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from extractors.base import (
    ExtractorSettingsError,
    FeatureAssembler,
    InputBatch,
    InputMaker,
    ProgressCallback,
    StreamExtractor,
    StreamFeatures,
    identity_record,
)
from extractors.decode import DecodeConfig, VideoProbe, iter_video_frames
from extractors.grid import SnippetGrid
from extractors.hardware import available_cores, native_bf16
from extractors.i3d_runtime import (
    RUNTIMES,
    ExportSpec,
    OnnxRuntimeClipNet,
    OpenVinoClipNet,
    exported_network,
    resolve_runtime,
)
from extractors.weights import I3D_CHECKPOINT, ResolvedWeights, resolve_weights
from model.setting_checks import check_choice, check_int, check_number, check_seed, require

if TYPE_CHECKING:
    import torch

FEATURE_LAYER_WIDTHS = {"head_pool": 2048, "res5": 2048, "res4": 1024, "res3": 512, "res2": 256}
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class VisualConfig:
    weights_path: str = ""  # I3D_8x8_R50.pyth; empty: $TORCH_HOME/hub/checkpoints (downloaded when online)
    random_seed: int = 0  # seed of the random weights used with --random-weights and no checkpoint
    sampling_fps: float = 30.0  # frames per second the video is resampled to before sampling clips
    frames_per_clip: int = 8  # F
    frame_spacing: int = 8  # frames (at sampling_fps) between two sampled frames: 8 / 30 s
    short_side: int = 256  # pixels; frames are scaled so their shorter side has this length
    crop_size: int = 256  # pixels; square centre crop
    mean: tuple[float, ...] = (0.45, 0.45, 0.45)  # per RGB channel, on pixels / 255
    std: tuple[float, ...] = (0.225, 0.225, 0.225)
    layer: str = "head_pool"  # head_pool (the vector the classifier projects, 2048) | res5 | res4 | res3 | res2
    batch_clips: int = 0  # clips per forward pass; 0: 8 on CPU, 32 on CUDA (speed only)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (auto: bf16 where native, else fp16 on CUDA, else fp32)
    torch_threads: int = 0  # CPU threads for the network; 0: every core this process may use (speed only)
    channels_last: bool = True  # channels-last-3d memory layout, torch runtime (speed only)
    prefetch_batches: int = 2  # batches decoded ahead of the network (speed only)
    runtime: str = "auto"  # auto | torch | openvino | onnxruntime (auto: openvino on CPU where installed, else torch)

    def __post_init__(self) -> None:
        check_number("visual.sampling_fps", self.sampling_fps, 0, low_open=True)
        check_int("visual.frames_per_clip", self.frames_per_clip, 2, note="the network halves time once")
        check_int("visual.frame_spacing", self.frame_spacing, 1)
        check_int("visual.crop_size", self.crop_size, 32, note="pixels")
        check_int("visual.short_side", self.short_side, self.crop_size, note="at least visual.crop_size")
        require(len(self.mean) == 3, f"visual.mean must have 3 values (R, G, B), got {list(self.mean)}")
        require(len(self.std) == 3 and all(s > 0 for s in self.std),
                f"visual.std must be 3 positive values (R, G, B), got {list(self.std)}")
        check_choice("visual.layer", self.layer, tuple(FEATURE_LAYER_WIDTHS))
        check_int("visual.batch_clips", self.batch_clips, 0, note="0: automatic")
        check_choice("visual.precision", self.precision, PRECISIONS)
        check_int("visual.torch_threads", self.torch_threads, 0, note="0: all cores")
        check_int("visual.prefetch_batches", self.prefetch_batches, 1)
        check_choice("visual.runtime", self.runtime, RUNTIMES)
        check_seed("visual.random_seed", self.random_seed)
        # The head's AvgPool3d (4, 7, 7) needs a res5 map at least that large:
        # time = F // 2, side = ceil(crop / 32).
        require(
            self.layer != "head_pool" or (self.frames_per_clip // 2 >= 4 and -(-self.crop_size // 32) >= 7),
            "visual.layer=head_pool needs frames_per_clip >= 8 and crop_size >= 193 (the head pools "
            f"4 x 7 x 7 of res5), got {self.frames_per_clip} frames and crop {self.crop_size}; "
            "use visual.layer=res5 for smaller clips",
        )


def frame_count(duration_seconds: float, frame_rate: float) -> int:
    """Frames at `frame_rate` whose time k / frame_rate lies inside [0, duration)."""
    return max(1, math.ceil(round(duration_seconds * frame_rate, 6)))


def clip_frame_indices(grid: SnippetGrid, num_frames: int, config: VisualConfig) -> np.ndarray:
    """(T, F) int64: for each snippet, the indices (at sampling_fps) of its clip's frames.

    Centred on the snippet centre, `frame_spacing` apart, nearest frame, clamped to
    [0, num_frames - 1] (so clips past either end repeat the edge frame). Each row is
    non-decreasing and the rows' first (and last) indices never decrease.
    """
    centres = grid.snippet_center_seconds() * config.sampling_fps  # in frames
    offsets = (np.arange(config.frames_per_clip) - (config.frames_per_clip - 1) / 2) * config.frame_spacing
    indices = np.floor(centres[:, None] + offsets[None, :] + 0.5).astype(np.int64)
    return np.clip(indices, 0, num_frames - 1)


def centre_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) -> (N, size, size, 3) view of the centre (H, W >= size)."""
    height, width = frames.shape[1:3]
    top, left = (height - size) // 2, (width - size) // 2
    return frames[:, top : top + size, left : left + size]


# -- the decoding side: runs in a background thread ------------------------------------
@dataclass
class ClipBatch:
    """What the decoder thread hands to the network: up to B clips and bookkeeping.

    clips: (B, F, S, S, 3) uint8 RGB (a torch tensor, pinned for CUDA), or None.
    owners: (job, snippet) of each row. events, applied after the rows: ("start", job,
    T), ("done", job, None), ("fail", job, exception); starts come before rows.
    """

    clips: Any = None
    owners: list[tuple[int, int]] = field(default_factory=list)
    starts: list[tuple[int, int]] = field(default_factory=list)
    events: list[tuple[str, int, BaseException | None]] = field(default_factory=list)


class _Stopped(Exception):
    """The consumer went away; the decoder thread ends quietly."""


class ClipDecoder(threading.Thread):
    """Decodes videos one after another and packs their clips into ClipBatches."""

    def __init__(
        self,
        jobs: Iterable[tuple[VideoProbe, SnippetGrid]],
        config: VisualConfig,
        decode: DecodeConfig,
        batch_clips: int,
        pin_memory: bool,
    ):
        super().__init__(name="visual-decoder", daemon=True)
        self.jobs = jobs
        self.config = config
        self.decode = decode
        self.batch_clips = batch_clips
        self.pin_memory = pin_memory
        self.output: queue.Queue = queue.Queue(maxsize=config.prefetch_batches)
        self.stop_requested = threading.Event()
        self._batch = ClipBatch()
        self._rows = 0
        self.peak_frames_held = 0  # most decoded frames held at once (memory stays flat in video length)

    # -- batch assembly -----------------------------------------------------------------
    def _new_clip_buffer(self):
        import torch

        shape = (self.batch_clips, self.config.frames_per_clip, self.config.crop_size, self.config.crop_size, 3)
        return torch.empty(shape, dtype=torch.uint8, pin_memory=self.pin_memory)

    def _put(self, item: Any) -> None:
        while True:
            if self.stop_requested.is_set():
                raise _Stopped
            try:
                self.output.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _flush(self) -> None:
        batch = self._batch
        if batch.clips is not None:
            batch.clips = batch.clips[: self._rows]
        if batch.clips is not None or batch.starts or batch.events:
            self._put(batch)
        self._batch, self._rows = ClipBatch(), 0

    def _add_clip(self, job: int, snippet: int, frames: list[np.ndarray]) -> None:
        if self._batch.clips is None:
            self._batch.clips = self._new_clip_buffer()
        row = self._batch.clips[self._rows].numpy()
        for k, frame in enumerate(frames):
            row[k] = frame
        self._batch.owners.append((job, snippet))
        self._rows += 1
        if self._rows == self.batch_clips:
            self._flush()

    # -- one video ----------------------------------------------------------------------
    def _decode_video(self, job: int, probe: VideoProbe, grid: SnippetGrid) -> None:
        config = self.config
        num_frames = frame_count(probe.duration_seconds, config.sampling_fps)
        indices = clip_frame_indices(grid, num_frames, config)
        needed = np.zeros(num_frames, dtype=bool)
        needed[indices.ravel()] = True
        kept: dict[int, np.ndarray] = {}  # frame index -> (S, S, 3) uint8, only frames some clip still needs
        next_snippet = 0
        decoded = 0
        reader = iter_video_frames(
            probe, self.decode, config.sampling_fps, num_frames, short_side=config.short_side, chunk_frames=16
        )
        try:
            for chunk in reader:
                if self.stop_requested.is_set():
                    raise _Stopped
                cropped = centre_crop(chunk, config.crop_size)
                for offset in np.flatnonzero(needed[decoded : decoded + len(chunk)]):
                    kept[decoded + int(offset)] = np.ascontiguousarray(cropped[offset])
                decoded += len(chunk)
                self.peak_frames_held = max(self.peak_frames_held, len(kept))
                while next_snippet < grid.num_snippets and indices[next_snippet, -1] < decoded:
                    self._add_clip(job, next_snippet, [kept[i] for i in indices[next_snippet]])
                    next_snippet += 1
                    if next_snippet < grid.num_snippets:
                        oldest_needed = indices[next_snippet, 0]
                        for index in [i for i in kept if i < oldest_needed]:
                            del kept[index]
        finally:
            reader.close()  # stops ffmpeg when we leave early
        if next_snippet < grid.num_snippets:  # the decoder delivers exactly num_frames, so never
            raise RuntimeError(f"decoder stopped at frame {decoded} of {num_frames}")

    def run(self) -> None:
        try:
            for job, (probe, grid) in enumerate(self.jobs):
                self._batch.starts.append((job, grid.num_snippets))
                try:
                    self._decode_video(job, probe, grid)
                except _Stopped:
                    raise
                except Exception as error:  # this video fails, the next one goes on
                    self._batch.events.append(("fail", job, error))
                else:
                    self._batch.events.append(("done", job, None))
            self._flush()
            self._put(None)
        except _Stopped:
            return
        except BaseException as error:  # a bug in this thread: hand it to the consumer
            try:
                self._put(error)
            except _Stopped:
                return


def batch_size_for(config: VisualConfig, device: str) -> int:
    """Clips per forward pass: visual.batch_clips, else 32 on CUDA and 8 on CPU."""
    return config.batch_clips or (32 if device.startswith("cuda") else 8)


class VisualInputMaker(InputMaker):
    """The visual stream's CPU half: a video's uint8 clips, in the network's batches (the
    ClipDecoder of `extract`, for one video, without pinned memory)."""

    def __init__(self, config: VisualConfig, decode: DecodeConfig, batch_clips: int):
        self.config, self.decode, self.batch_clips = config, decode, batch_clips

    def batches(self, probe: VideoProbe, grid: SnippetGrid) -> Iterator[InputBatch]:
        decoder = ClipDecoder([(probe, grid)], self.config, self.decode, self.batch_clips, pin_memory=False)
        decoder.start()
        try:
            while (batch := decoder.output.get()) is not None:
                if isinstance(batch, BaseException):
                    raise batch
                if batch.clips is not None and len(batch.owners):
                    yield InputBatch(np.array([snippet for _, snippet in batch.owners], dtype=np.int64),
                                     batch.clips.numpy())
                for kind, _, error in batch.events:
                    if kind == "fail":
                        raise error
        finally:
            decoder.stop_requested.set()
            decoder.join(timeout=10)


class VisualAssembler(FeatureAssembler):
    """One video's (T, D) visual features, filled row by row as batches are embedded."""

    def __init__(self, num_snippets: int, output_dim: int):
        self.features = np.zeros((num_snippets, output_dim), dtype=np.float32)

    def add(self, batch: InputBatch, outputs: tuple[np.ndarray, ...]) -> None:
        self.features[batch.snippets] = outputs[0]

    def result(self) -> StreamFeatures:
        return StreamFeatures(self.features)


# -- the network side -------------------------------------------------------------------
def resolve_precision(choice: str, device: str, runtime: str = "torch") -> str:
    """The precision actually used on `device` by `runtime` (resolved) for the config value
    `choice`; onnxruntime computes in fp32 only."""
    if runtime == "onnxruntime":
        if choice not in ("auto", "fp32"):
            raise ExtractorSettingsError(
                f"visual.precision={choice}: visual.runtime=onnxruntime computes in fp32; use visual.precision=fp32 "
                "(or auto), or visual.runtime=openvino for bf16"
            )
        return "fp32"
    if choice == "auto":
        if native_bf16(device):
            return "bf16"
        return "fp16" if device.startswith("cuda") else "fp32"
    if choice == "fp16" and not device.startswith("cuda"):
        raise ExtractorSettingsError("visual.precision=fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    return choice


class VisualExtractor(StreamExtractor):
    name = "visual"
    version = 1
    runtime_fields = (
        "weights_path",  # the weights' sha256 identifies them, wherever the file is
        "random_seed",  # recorded in the weights identity when random weights are used
        "batch_clips",
        "precision",
        "torch_threads",
        "channels_last",
        "prefetch_batches",
        "runtime",  # the runtimes agree within cosine 0.999 per snippet (extractors/i3d_runtime.py)
    )
    settings: VisualConfig

    def __init__(self, settings: VisualConfig, decode: DecodeConfig, device: str = "cpu",
                 allow_random_weights: bool = False):
        super().__init__(settings, decode, device, allow_random_weights)
        self.runtime = resolve_runtime(settings.runtime, device)
        self.precision = resolve_precision(settings.precision, device, self.runtime)
        self.weights: ResolvedWeights = resolve_weights(
            I3D_CHECKPOINT, settings.weights_path, allow_random_weights, settings.random_seed
        )
        self.batch_clips = batch_size_for(settings, device)
        self.network = self._build_network()  # torch and pytorchvideo load here, not at import

    @property
    def output_dim(self) -> int:
        return FEATURE_LAYER_WIDTHS[self.settings.layer]

    def weights_identity(self) -> dict:
        return self.weights.identity()

    @classmethod
    def planned_identity(cls, settings: VisualConfig, decode: DecodeConfig, allow_random_weights: bool) -> dict:
        """The settings, the layer's width and the checkpoint's sha256 (remembered per file,
        extractors/weights.py): no network built, no torch imported."""
        weights = resolve_weights(I3D_CHECKPOINT, settings.weights_path, allow_random_weights, settings.random_seed)
        return identity_record(cls, settings, FEATURE_LAYER_WIDTHS[settings.layer], weights.identity())

    @classmethod
    def compute_precision(cls, settings: VisualConfig, device: str) -> str:
        """e.g. "bf16" (torch), "openvino bf16", "onnxruntime fp32"."""
        runtime = resolve_runtime(settings.runtime, device)
        precision = resolve_precision(settings.precision, device, runtime)
        return precision if runtime == "torch" else f"{runtime} {precision}"

    # -- network ------------------------------------------------------------------------
    def _feature_net(self):
        """The I3DFeatureNet in fp32 on the CPU: built (seeded), the weights loaded, BatchNorms
        folded, ReLUs in place."""
        import torch

        from extractors.i3d import I3DFeatureNet, build_i3d_r50, fold_batch_norms, load_i3d_checkpoint, use_inplace_relu

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.settings.random_seed)
            model = build_i3d_r50()
        if not self.weights.is_random:
            load_i3d_checkpoint(model, self.weights.path)
        model.eval()
        network = use_inplace_relu(fold_batch_norms(I3DFeatureNet(model, self.settings.layer))).eval()
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        return network

    def _build_network(self):
        """The network half on self.device: a torch module, or (visual.runtime openvino,
        onnxruntime) a callable on uint8 numpy clips running the exported graph."""
        import torch

        settings = self.settings
        threads = settings.torch_threads or available_cores()
        if self.device == "cpu":
            torch.set_num_threads(threads)
        elif self.device.startswith("cuda"):
            torch.backends.cudnn.benchmark = True  # fixed clip shapes: let cuDNN pick its fastest kernels
        if self.runtime != "torch":
            return self._exported_network(threads)
        self.compute_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]
        self.memory_format = torch.channels_last_3d if settings.channels_last else torch.contiguous_format
        network = self._feature_net().to(self.device, dtype=self.compute_dtype, memory_format=self.memory_format)
        shape = (1, 3, 1, 1, 1)
        self._pixel_offset = torch.tensor([255.0 * m for m in settings.mean], device=self.device).view(shape)
        self._pixel_scale = torch.tensor([1.0 / (255.0 * s) for s in settings.std], device=self.device).view(shape)
        return network

    def _exported_network(self, threads: int):
        """OpenVinoClipNet or OnnxRuntimeClipNet on the exported graph (exported now if this
        spec was never exported; extractors/i3d_runtime.py)."""
        from extractors.i3d import ClipFeatureNet

        s = self.settings
        spec = ExportSpec(self.weights.identity(), s.layer, s.frames_per_clip, s.crop_size, tuple(s.mean), tuple(s.std))

        def build() -> ClipFeatureNet:
            return ClipFeatureNet(self._feature_net(), s.mean, s.std)

        model = exported_network(spec, build)
        try:
            return self._runtime_network(model, threads)
        except ExtractorSettingsError:
            raise
        except Exception:  # a damaged file in the export cache (the disk, or someone's edit): export it again, once
            if not isinstance(model, Path):
                raise
            model.unlink(missing_ok=True)
            return self._runtime_network(exported_network(spec, build), threads)

    def _runtime_network(self, model: Path | bytes, threads: int):
        if self.runtime == "openvino":
            return OpenVinoClipNet(model, self.precision, threads)
        return OnnxRuntimeClipNet(model, threads)

    def embed_clips(self, clips: torch.Tensor | np.ndarray) -> np.ndarray:
        """(B, F, S, S, 3) uint8 RGB clips (a tensor on any device, or an array) -> (B, D) float32 features."""
        import torch

        if self.runtime != "torch":
            return self.network(np.ascontiguousarray(clips.numpy() if isinstance(clips, torch.Tensor) else clips))
        with torch.inference_mode():
            clips = torch.as_tensor(clips)
            # (B, 3, F, S, S), channels-last strides
            pixels = clips.to(self.device, non_blocking=True).permute(0, 4, 1, 2, 3)
            normalized = ((pixels.float() - self._pixel_offset) * self._pixel_scale).to(
                self.compute_dtype, memory_format=self.memory_format
            )
            return self.network(normalized).cpu().numpy()

    def _full_shape(self, clips: torch.Tensor) -> torch.Tensor:
        """On CUDA, a partial batch (a video's last clips) padded with zero clips to the
        batch size: with cudnn.benchmark every new batch shape costs a fresh kernel search
        (about a second for I3D), which otherwise recurs for each partial size in a folder.
        The padding rows are dropped from the output; on CPU the batch runs as it is."""
        import torch

        missing = self.batch_clips - len(clips)
        if missing <= 0 or not self.device.startswith("cuda"):
            return clips
        return torch.cat([clips, clips.new_zeros((missing, *clips.shape[1:]))])

    # -- the two halves (the concurrent engine: inputs made in worker processes) -------------
    @classmethod
    def input_maker(cls, settings: VisualConfig, decode: DecodeConfig, device: str = "cpu") -> VisualInputMaker:
        return VisualInputMaker(settings, decode, batch_size_for(settings, device))

    def embed_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        """(B, F, S, S, 3) uint8 clips -> ((B, D) float32,), as `extract` embeds a batch."""
        import torch

        return (self.embed_clips(self._full_shape(torch.from_numpy(inputs)))[: len(inputs)],)

    def assembler(self, grid: SnippetGrid) -> VisualAssembler:
        return VisualAssembler(grid.num_snippets, self.output_dim)

    # -- extraction ---------------------------------------------------------------------
    def extract_many(
        self,
        jobs: Iterable[tuple[VideoProbe, SnippetGrid]],
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[tuple[int, StreamFeatures | Exception]]:
        """Features of several videos, their clips batched together.

        jobs: (probe, grid) per video, read lazily by the decoder thread. Yields (job
        index, StreamFeatures) in job order as each video completes, or (job index,
        exception) for a video that could not be decoded (the others go on).
        progress(job, snippets) is called as snippets finish.
        """
        decoder = ClipDecoder(
            jobs, self.settings, self.decode, self.batch_clips, pin_memory=self.device.startswith("cuda")
        )
        decoder.start()
        features: dict[int, np.ndarray] = {}
        try:
            while True:
                batch = decoder.output.get()
                if batch is None:
                    return
                if isinstance(batch, BaseException):
                    raise batch
                for job, num_snippets in batch.starts:
                    features[job] = np.zeros((num_snippets, self.output_dim), dtype=np.float32)
                if batch.clips is not None and len(batch.owners):
                    rows = self.embed_clips(self._full_shape(batch.clips))[: len(batch.owners)]
                    finished: dict[int, int] = {}
                    for (job, snippet), row in zip(batch.owners, rows, strict=True):
                        if job in features:
                            features[job][snippet] = row
                            finished[job] = finished.get(job, 0) + 1
                    if progress is not None:
                        for job, count in finished.items():
                            progress(job, count)
                for kind, job, error in batch.events:
                    result = features.pop(job, None)
                    yield job, (StreamFeatures(result) if kind == "done" else error)
        finally:
            decoder.stop_requested.set()
            decoder.join(timeout=10)

    def extract(self, probe: VideoProbe, grid: SnippetGrid, progress: ProgressCallback) -> StreamFeatures:
        for _, result in self.extract_many([(probe, grid)], lambda job, count: progress(count)):
            if isinstance(result, Exception):
                raise result
            return result
        raise RuntimeError("the visual decoder ended without a result")
