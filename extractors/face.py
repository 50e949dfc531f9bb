"""Face stream: faces found by a face detector, embedded by ResEmoteNet, with a face-presence mask.

Per snippet, `frames_per_snippet` frames (default 2) are sampled at evenly spaced times:
frame j of snippet i shows the video at (i + j / n) * snippet_seconds (n frames per
snippet), so every frame lies inside its snippet. They are decoded at full resolution by
ffmpeg (iter_video_frames at n / snippet_seconds frames per second).

Each frame is downscaled so its longest side is at most `detection_max_side` pixels and
given to the detector `detector_backend` (extractors/face_detectors.py; default
RetinaFace, built once when the extractor is made). The detected boxes are mapped back to
the full-resolution frame. One primary face is kept per frame (rule in
`choose_primary_face`): the largest, most confident one, with a bonus for overlapping the
primary face of the previous sampled frame that had a face (at most one snippet back).
Its crop is taken from the full-resolution frame, rotated so the eyes are level when
`align` is on and both eyes are known, and embedded by ResEmoteNet
(extractors/resemotenet.py) in batches of `batch_size` faces, in a background thread
while the next frames are searched (`EmbeddingQueue`).

Output per snippet: features (1024,) = mean fc1 embedding over the sampled frames with a
face (zeros when none); mask = fraction of sampled frames with a face, in [0, 1];
extras["emotion"] (K,) = mean emotion probabilities over those frames (zeros when none).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

# torch (with extractors/resemotenet.py), cv2 and the detectors' runtimes load where they are
# used: the stream's identity is known without them (FaceExtractor.planned_identity)
from extractors.base import (
    FeatureAssembler,
    InputBatch,
    InputMaker,
    ProgressCallback,
    StreamExtractor,
    StreamFeatures,
    identity_record,
)
from extractors.decode import DecodeConfig, VideoProbe, iter_video_frames
from extractors.face_detectors import (
    DEFAULT_DETECTOR,
    DETECTOR_BACKENDS,
    Detection,
    FaceDetector,
    build_detector,
    default_deepface_home,
    detector_identity,
)
from extractors.grid import SnippetGrid
from extractors.resemotenet_facts import EMBEDDING_DIM, FER2013_LABELS
from extractors.weights import CheckpointSpec, ResolvedWeights, WeightsError, file_fact, resolve_weights
from model.setting_checks import check_bool, check_choice, check_int, check_names, check_number, require

if TYPE_CHECKING:
    from extractors.resemotenet import ResEmoteNet

RESEMOTENET_CHECKPOINT = CheckpointSpec(
    stream="face",
    description="ResEmoteNet (FER2013, Roy et al.; github.com/ArnabKumarRoy02/ResEmoteNet, 'Checkpoints')",
    file_name="resemotenet_fer2013.pth",
    url=None,  # published in a Google Drive folder, not at a direct URL
)
MAX_ALIGN_DEGREES = 45.0  # eye lines steeper than this are taken as false eyes: no rotation


@dataclass(frozen=True)
class FaceConfig:
    weights_path: str = ""  # ResEmoteNet checkpoint; empty: $TORCH_HOME/hub/checkpoints/resemotenet_fer2013.pth
    emotion_labels: tuple[str, ...] = FER2013_LABELS  # names of the checkpoint's K classes, in order
    frames_per_snippet: int = 2  # frames sampled per snippet, evenly spaced inside it
    detector_backend: str = DEFAULT_DETECTOR  # extractors/face_detectors.py; "skip": the whole frame is the face
    detection_max_side: int = 960  # pixels; frames are downscaled to this longest side for detection (0: never)
    align: bool = True  # rotate each crop so the eyes are level (when both eyes are found)
    min_confidence: float = 0.0  # detections below this detector confidence are ignored
    continuity_weight: float = 1.0  # primary-face bonus per unit IoU with the previous face
    # DeepFace's DEEPFACE_HOME (its detectors only); empty: $DEEPFACE_HOME, else DeepFace's default (~, files in
    # ~/.deepface)
    deepface_home: str = ""
    batch_size: int = 32  # faces per ResEmoteNet forward pass (speed and memory only)

    def __post_init__(self) -> None:
        check_names("face.emotion_labels", self.emotion_labels, what="class")
        check_int("face.frames_per_snippet", self.frames_per_snippet, 1, 64)
        check_choice("face.detector_backend", self.detector_backend, DETECTOR_BACKENDS)
        check_int("face.detection_max_side", self.detection_max_side, 0)
        require(self.detection_max_side == 0 or self.detection_max_side >= 64,
                f"face.detection_max_side must be 0 (full size) or >= 64 pixels, got {self.detection_max_side}")
        check_bool("face.align", self.align)
        check_number("face.min_confidence", self.min_confidence, 0, 1)
        check_number("face.continuity_weight", self.continuity_weight, 0)
        check_int("face.batch_size", self.batch_size, 1)


def deepface_home_for(config: FaceConfig) -> Path:
    """Where DeepFace keeps its files (it adds .deepface/weights below): face.deepface_home,
    else the DEEPFACE_HOME environment variable, else `default_deepface_home()`."""
    if config.deepface_home:
        return Path(config.deepface_home).expanduser()
    if os.environ.get("DEEPFACE_HOME"):
        return Path(os.environ["DEEPFACE_HOME"])
    return default_deepface_home()


CLASS_COUNT_FACT = "resemotenet_classes"  # a checkpoint's class count, remembered per file (file_fact)


def emotion_names_for(configured: tuple[str, ...], num_classes: int) -> tuple[tuple[str, ...], str | None]:
    """(the names of a checkpoint's `num_classes` emotion classes, a warning or None): the
    configured face.emotion_labels when they count as many, else class_0, class_1, ..."""
    if len(configured) == num_classes:
        return configured, None
    generic = tuple(f"class_{index}" for index in range(num_classes))
    hint = " (the authors' 6-class checkpoints: happy,surprise,sad,anger,disgust,fear)" if num_classes == 6 else ""
    return generic, (
        f"face: the ResEmoteNet checkpoint has {num_classes} emotion classes but face.emotion_labels "
        f"names {len(configured)}; the emotion extra uses generic names {', '.join(generic)}. "
        f"Set face.emotion_labels to the checkpoint's {num_classes} class names{hint}."
    )


# -- boxes and the primary-face rule ------------------------------------------------------
@dataclass(frozen=True)
class FaceBox:
    """One detected face in full-resolution frame pixels: [x0, x1) x [y0, y1)."""

    x0: int
    y0: int
    x1: int
    y1: int
    confidence: float  # the detector's score, clipped to [0, 1]
    left_eye: tuple[float, float] | None = None  # the person's left eye (image right), (x, y)
    right_eye: tuple[float, float] | None = None

    @property
    def area(self) -> int:
        return max(0, self.x1 - self.x0) * max(0, self.y1 - self.y0)


def box_iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes, in [0, 1]."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a.area + b.area - inter)


def primary_face_score(box: FaceBox, frame_area: int, previous: FaceBox | None, continuity_weight: float) -> float:
    """(area / frame area) * confidence * (1 + continuity_weight * IoU(box, previous))."""
    continuity = box_iou(box, previous) if previous is not None else 0.0
    return (box.area / frame_area) * box.confidence * (1.0 + continuity_weight * continuity)


def choose_primary_face(
    boxes: list[FaceBox], frame_area: int, previous: FaceBox | None, continuity_weight: float
) -> FaceBox | None:
    """The box with the highest `primary_face_score` (the first one on ties); None if no boxes."""
    if not boxes:
        return None
    scores = [primary_face_score(box, frame_area, previous, continuity_weight) for box in boxes]
    return boxes[int(np.argmax(scores))]


def crop_face(frame: np.ndarray, box: FaceBox, align: bool) -> np.ndarray:
    """The face's (h, w, 3) uint8 crop of the full-resolution RGB `frame` ((H, W, 3) uint8).

    With `align` and both eyes known, the picture is rotated about the box centre so the
    eye line is horizontal before cropping (pixels from outside the frame are black).
    """
    width, height = box.x1 - box.x0, box.y1 - box.y0
    if align and box.left_eye is not None and box.right_eye is not None:
        dx = box.left_eye[0] - box.right_eye[0]
        dy = box.left_eye[1] - box.right_eye[1]
        degrees = math.degrees(math.atan2(dy, dx))
        if dx > 0 and 0.5 <= abs(degrees) <= MAX_ALIGN_DEGREES:
            centre = ((box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0)
            import cv2

            rotation = cv2.getRotationMatrix2D(centre, degrees, 1.0)  # levels the eye line
            rotation[:, 2] -= (box.x0, box.y0)  # output pixel (0, 0) is the box's corner
            return cv2.warpAffine(
                frame, rotation, (width, height), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
            )
    return np.ascontiguousarray(frame[box.y0 : box.y1, box.x0 : box.x1])


def boxes_in_frame(detections: list[Detection], scale_x: float, scale_y: float, width: int,
                   height: int) -> list[FaceBox]:
    """Detections in a picture scaled by (1 / scale_x, 1 / scale_y) -> boxes in the
    (width x height) frame's pixels, clipped to it; boxes under 2 pixels are dropped."""
    boxes = []
    for found in detections:
        x0, y0 = max(0, math.floor(found.x0 * scale_x)), max(0, math.floor(found.y0 * scale_y))
        x1, y1 = min(width, math.ceil(found.x1 * scale_x)), min(height, math.ceil(found.y1 * scale_y))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        eyes = [None if eye is None else (eye[0] * scale_x, eye[1] * scale_y)
                for eye in (found.left_eye, found.right_eye)]
        boxes.append(FaceBox(x0, y0, x1, y1, min(max(found.confidence, 0.0), 1.0), eyes[0], eyes[1]))
    return boxes


def detect_in_frame(detector: FaceDetector, frame: np.ndarray, max_side: int, min_confidence: float) -> list[FaceBox]:
    """Faces in one (H, W, 3) uint8 RGB frame, in its pixels: the frame is downscaled (area
    averaging) so its longest side is at most `max_side` (0: never), and detections below
    `min_confidence` are dropped."""
    height, width = frame.shape[:2]
    small = frame
    if max_side and max(height, width) > max_side:
        import cv2

        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    detections = [found for found in detector.detect(small) if found.confidence >= min_confidence]
    return boxes_in_frame(detections, width / small.shape[1], height / small.shape[0], width, height)


class PrimaryFaceTracker:
    """Chooses each frame's primary face; the previous one counts when it was found at most
    one snippet (`frames_per_snippet` sampled frames) earlier."""

    def __init__(self, frames_per_snippet: int, continuity_weight: float):
        self.frames_per_snippet = frames_per_snippet
        self.continuity_weight = continuity_weight
        self.previous: FaceBox | None = None
        self.previous_frame = -(10**9)

    def choose(self, boxes: list[FaceBox], frame_index: int, frame_area: int) -> FaceBox | None:
        if frame_index - self.previous_frame > self.frames_per_snippet:
            self.previous = None
        face = choose_primary_face(boxes, frame_area, self.previous, self.continuity_weight)
        if face is not None:
            self.previous, self.previous_frame = face, frame_index
        return face


# -- per-video state: sums per snippet, the embedding thread, progress ---------------------
@dataclass
class FaceTimings:
    """Seconds spent in each part of the last `extract` call (wall clock).

    Embedding runs in a background thread, overlapped with decoding and detection, so
    the three parts can add up to more than the call's own duration.
    """

    decode: float = 0.0  # main thread waiting for ffmpeg's frames
    detection: float = 0.0  # main thread: downscale, detection, primary face, crop
    embedding: float = 0.0  # embedding thread: ResEmoteNet preprocessing and forward passes
    frames: int = 0  # frames sampled
    faces: int = 0  # frames with a face


@dataclass
class SnippetSums:
    """Per snippet: sums of embeddings (T, 1024) and emotion probabilities (T, K) over the
    sampled frames with a face, and how many frames had one (T,)."""

    embedding: np.ndarray
    emotion: np.ndarray
    faces: np.ndarray

    @classmethod
    def zeros(cls, num_snippets: int, num_classes: int) -> SnippetSums:
        return cls(
            np.zeros((num_snippets, EMBEDDING_DIM), dtype=np.float64),
            np.zeros((num_snippets, num_classes), dtype=np.float64),
            np.zeros(num_snippets, dtype=np.int64),
        )

    def add(self, snippets: np.ndarray, embeddings: np.ndarray, probabilities: np.ndarray) -> None:
        np.add.at(self.embedding, snippets, embeddings)
        np.add.at(self.emotion, snippets, probabilities)

    def features(self, frames_per_snippet: int) -> StreamFeatures:
        """Means over the frames with a face; zeros (never NaN) for snippets without one."""
        with_face = self.faces > 0
        divisor = np.maximum(self.faces, 1)[:, None]
        features = np.where(with_face[:, None], self.embedding / divisor, 0.0).astype(np.float32)
        emotion = np.where(with_face[:, None], self.emotion / divisor, 0.0).astype(np.float32)
        mask = (self.faces / frames_per_snippet).astype(np.float32)
        return StreamFeatures(features, mask, {"emotion": emotion})


EmbedFunction = Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray, float]]


class EmbeddingQueue:
    """Face crops -> ResEmoteNet in one background thread, `batch_size` crops a batch, at
    most two batches in flight. Finished batches are added to the sums oldest first, so the
    sums do not depend on timing. `embed` returns (embeddings, probabilities, seconds)."""

    def __init__(self, embed: EmbedFunction, sums: SnippetSums, batch_size: int, executor: ThreadPoolExecutor):
        self.embed, self.sums, self.batch_size, self.executor = embed, sums, batch_size, executor
        self.crops: list[np.ndarray] = []  # waiting for a full batch
        self.snippets: list[int] = []  # their snippets
        self.in_flight: deque[tuple[Future, np.ndarray]] = deque()
        self.seconds = 0.0  # embedding time of the batches collected so far

    def add(self, crop: np.ndarray, snippet: int) -> None:
        self.crops.append(crop)
        self.snippets.append(snippet)
        if len(self.crops) >= self.batch_size:
            self.collect(keep=1)
            self.submit()

    def submit(self) -> None:
        if self.crops:
            self.in_flight.append((self.executor.submit(self.embed, list(self.crops)), np.asarray(self.snippets)))
            self.crops.clear()
            self.snippets.clear()

    def collect(self, keep: int) -> None:
        """Add finished batches, oldest first, waiting for the oldest while more than
        `keep` batches are in flight."""
        while self.in_flight and (len(self.in_flight) > keep or self.in_flight[0][0].done()):
            future, snippets = self.in_flight.popleft()
            embeddings, probabilities, seconds = future.result()
            self.sums.add(snippets, embeddings, probabilities)
            self.seconds += seconds

    def first_unembedded_snippet(self) -> int | None:
        """The earliest snippet with a face not yet added to the sums; None when none."""
        if self.in_flight:
            return int(self.in_flight[0][1][0])
        return self.snippets[0] if self.snippets else None

    def finish(self) -> None:
        self.submit()
        self.collect(keep=0)

    def cancel(self) -> None:
        for future, _ in self.in_flight:
            future.cancel()


class SnippetProgress:
    """Reports snippets once all their frames are searched and their faces embedded."""

    def __init__(self, progress: ProgressCallback, num_snippets: int):
        self.progress, self.num_snippets, self.reported = progress, num_snippets, 0

    def advance_to(self, finished: int) -> None:
        finished = min(finished, self.num_snippets)
        if finished > self.reported:
            self.progress(finished - self.reported)
            self.reported = finished


def timed_chunks(chunks: Iterable[np.ndarray], timings: FaceTimings) -> Iterator[np.ndarray]:
    """`chunks` as they come, adding the seconds spent waiting for each to timings.decode."""
    iterator = iter(chunks)
    try:
        while True:
            started = time.perf_counter()
            chunk = next(iterator, None)
            timings.decode += time.perf_counter() - started
            if chunk is None:
                return
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()  # stops ffmpeg when the caller stops early


# -- the extractor ------------------------------------------------------------------------
class FaceExtractor(StreamExtractor):
    name = "face"
    # 2: ResEmoteNet head in float64 on the CPU (thread-count invariant features)
    # 3: detectors of extractors/face_detectors.py (default RetinaFace at 960 px), the detector in the identity
    version = 3
    runtime_fields = ("weights_path", "deepface_home", "batch_size")
    settings: FaceConfig

    def __init__(self, settings: FaceConfig, decode: DecodeConfig, device: str = "cpu",
                 allow_random_weights: bool = False):
        super().__init__(settings, decode, device, allow_random_weights)
        self.weights: ResolvedWeights = resolve_weights(
            RESEMOTENET_CHECKPOINT, settings.weights_path, allow_random_weights
        )
        self.network: ResEmoteNet = self._load_network()
        self.emotion_names: tuple[str, ...] = self._emotion_names(self.network.num_classes)
        self.deepface_home = deepface_home_for(settings)
        # built now, once: a missing detector stops before any video
        self.detector: FaceDetector = build_detector(settings.detector_backend, self.deepface_home)
        self.last_timings = FaceTimings()

    # construction helpers
    def _load_network(self) -> ResEmoteNet:
        from extractors.resemotenet import CheckpointFormatError, load_resemotenet, random_resemotenet

        if self.weights.is_random:
            network = random_resemotenet(len(self.settings.emotion_labels), self.weights.random_seed or 0)
        else:
            try:
                network = load_resemotenet(self.weights.path)
            except CheckpointFormatError as error:
                raise WeightsError(f"face.weights_path: {error}") from None
            file_fact(self.weights.path, CLASS_COUNT_FACT, lambda path: network.num_classes)  # for planned_identity
        return network.to(self.device).eval()

    def _emotion_names(self, num_classes: int) -> tuple[str, ...]:
        names, warning = emotion_names_for(self.settings.emotion_labels, num_classes)
        if warning:
            warnings.warn(warning, stacklevel=3)
        return names

    # identity and shape
    @property
    def output_dim(self) -> int:
        return EMBEDDING_DIM

    def weights_identity(self) -> dict:
        return self.weights.identity()

    def identity(self) -> dict:
        """The base identity plus the emotion class names in use and the detector: its name,
        weights file and sha256, fixed thresholds (DeepFace's version for its detectors)."""
        identity = super().identity()
        identity["emotion_classes"] = list(self.emotion_names)
        identity["detector"] = self.detector.identity()
        return identity

    @classmethod
    def planned_identity(cls, settings: FaceConfig, decode: DecodeConfig, allow_random_weights: bool) -> dict | None:
        """`identity()` without building the extractor (no torch, no network, no detector):
        the checkpoint's sha256 and class count and the detector's weights are remembered per
        file (extractors/weights.py). None the first time a checkpoint is seen (its class
        count is learnt by loading it)."""
        weights = resolve_weights(RESEMOTENET_CHECKPOINT, settings.weights_path, allow_random_weights)
        num_classes = len(settings.emotion_labels) if weights.is_random else file_fact(weights.path, CLASS_COUNT_FACT)
        if num_classes is None:
            return None
        identity = identity_record(cls, settings, EMBEDDING_DIM, weights.identity())
        identity["emotion_classes"] = list(emotion_names_for(settings.emotion_labels, int(num_classes))[0])
        identity["detector"] = detector_identity(settings.detector_backend)
        return identity

    # per frame
    def detect_faces(self, frame: np.ndarray) -> list[FaceBox]:
        """Faces in one (H, W, 3) uint8 RGB frame, in full-resolution pixels (maybe none)."""
        return detect_in_frame(self.detector, frame, self.settings.detection_max_side, self.settings.min_confidence)

    def embed_faces(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Face crops ((h, w, 3) uint8 RGB) -> (N, 1024) fc1 embeddings, (N, K) emotion probabilities."""
        import torch

        from extractors.resemotenet import preprocess_faces

        embeddings, probabilities = [], []
        with torch.inference_mode():
            for start in range(0, len(crops), self.settings.batch_size):
                batch = preprocess_faces(crops[start : start + self.settings.batch_size]).to(self.device)
                embedding, logits = self.network(batch)
                embeddings.append(embedding.float().cpu().numpy())
                probabilities.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(embeddings), np.concatenate(probabilities)

    def _embed_timed(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
        """`embed_faces` and the seconds it took (run in the embedding thread)."""
        started = time.perf_counter()
        embeddings, probabilities = self.embed_faces(crops)
        return embeddings, probabilities, time.perf_counter() - started

    # per video
    def extract(self, probe: VideoProbe, grid: SnippetGrid, progress: ProgressCallback) -> StreamFeatures:
        count, per_snippet = grid.num_snippets, self.settings.frames_per_snippet
        sums = SnippetSums.zeros(count, len(self.emotion_names))
        timings = self.last_timings = FaceTimings()
        if not probe.has_video:  # nothing to see: no face anywhere
            progress(count)
            return sums.features(per_snippet)
        frames = iter_video_frames(
            probe, self.decode, per_snippet / grid.snippet_seconds, count * per_snippet,
            chunk_frames=max(per_snippet, 8),
        )
        reporter = SnippetProgress(progress, count)
        # ResEmoteNet runs in one background thread while the next frames are decoded and
        # searched for faces (torch, onnxruntime and OpenCV release the GIL).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="face-embedding") as executor:
            queue = EmbeddingQueue(self._embed_timed, sums, self.settings.batch_size, executor)
            try:
                self._search_frames(timed_chunks(frames, timings), per_snippet, queue, reporter)
                queue.finish()
            finally:
                queue.cancel()
        timings.embedding = queue.seconds
        timings.faces = int(sums.faces.sum())
        reporter.advance_to(count)
        return sums.features(per_snippet)

    def _search_frames(
        self, chunks: Iterable[np.ndarray], per_snippet: int, queue: EmbeddingQueue, reporter: SnippetProgress
    ) -> None:
        """Finds each frame's primary face and queues its crop for embedding; reports the
        snippets whose frames are all searched and whose faces are all embedded."""
        tracker = PrimaryFaceTracker(per_snippet, self.settings.continuity_weight)
        timings, frame_index = self.last_timings, 0
        for chunk in chunks:
            for frame in chunk:
                started = time.perf_counter()
                face = tracker.choose(self.detect_faces(frame), frame_index, frame.shape[0] * frame.shape[1])
                crop = None if face is None else crop_face(frame, face, self.settings.align)
                timings.detection += time.perf_counter() - started
                if crop is not None:
                    queue.sums.faces[frame_index // per_snippet] += 1
                    queue.add(crop, frame_index // per_snippet)
                frame_index += 1
            queue.collect(keep=len(queue.in_flight))  # only those already done
            unembedded = queue.first_unembedded_snippet()
            searched = frame_index // per_snippet  # snippets whose frames are all searched
            reporter.advance_to(searched if unembedded is None else min(unembedded, searched))
        timings.frames = frame_index

    # the two halves (the concurrent engine: faces found and cropped in worker processes)
    @classmethod
    def input_maker(cls, settings: FaceConfig, decode: DecodeConfig, device: str = "cpu") -> FaceInputMaker:
        return FaceInputMaker(settings, decode)

    def embed_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        """(N, 3, 64, 64) float32 faces (`preprocess_faces`) -> (N, 1024) embeddings, (N, K)
        emotion probabilities: one forward pass, as `embed_faces` runs each batch."""
        import torch

        with torch.inference_mode():
            embedding, logits = self.network(torch.from_numpy(inputs).to(self.device))
            return embedding.float().cpu().numpy(), torch.softmax(logits.float(), dim=1).cpu().numpy()

    def assembler(self, grid: SnippetGrid) -> FaceAssembler:
        return FaceAssembler(grid.num_snippets, len(self.emotion_names), self.settings.frames_per_snippet)


class FaceInputMaker(InputMaker):
    """The face stream's CPU half: frames decoded, the primary face found and cropped as
    `FaceExtractor.extract` does, crops preprocessed for ResEmoteNet in its batches
    (`batch_size` faces, in frame order). Builds the detector, not ResEmoteNet."""

    def __init__(self, settings: FaceConfig, decode: DecodeConfig):
        self.settings, self.decode = settings, decode
        self.detector: FaceDetector = build_detector(settings.detector_backend, deepface_home_for(settings))

    def batches(self, probe: VideoProbe, grid: SnippetGrid) -> Iterator[InputBatch]:
        from extractors.resemotenet import preprocess_faces

        settings, per_snippet = self.settings, self.settings.frames_per_snippet
        if not probe.has_video:
            return
        frames = iter_video_frames(probe, self.decode, per_snippet / grid.snippet_seconds,
                                   grid.num_snippets * per_snippet, chunk_frames=max(per_snippet, 8))
        tracker = PrimaryFaceTracker(per_snippet, settings.continuity_weight)
        crops: list[np.ndarray] = []
        snippets: list[int] = []
        frame_index = 0
        try:
            for frame in (frame for chunk in frames for frame in chunk):
                boxes = detect_in_frame(self.detector, frame, settings.detection_max_side, settings.min_confidence)
                face = tracker.choose(boxes, frame_index, frame.shape[0] * frame.shape[1])
                if face is not None:
                    crops.append(crop_face(frame, face, settings.align))
                    snippets.append(frame_index // per_snippet)
                if len(crops) == settings.batch_size:
                    yield InputBatch(np.asarray(snippets, dtype=np.int64), preprocess_faces(crops).numpy())
                    crops, snippets = [], []
                frame_index += 1
        finally:
            frames.close()  # stops ffmpeg when the caller stops early
        if crops:
            yield InputBatch(np.asarray(snippets, dtype=np.int64), preprocess_faces(crops).numpy())


class FaceAssembler(FeatureAssembler):
    """One video's face sums, added batch by batch in frame order (as `EmbeddingQueue`)."""

    def __init__(self, num_snippets: int, num_classes: int, frames_per_snippet: int):
        self.sums = SnippetSums.zeros(num_snippets, num_classes)
        self.frames_per_snippet = frames_per_snippet

    def add(self, batch: InputBatch, outputs: tuple[np.ndarray, ...]) -> None:
        np.add.at(self.sums.faces, batch.snippets, 1)
        self.sums.add(batch.snippets, outputs[0], outputs[1])

    def result(self) -> StreamFeatures:
        return self.sums.features(self.frames_per_snippet)
