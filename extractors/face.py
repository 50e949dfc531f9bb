"""Face stream: faces found by DeepFace, embedded by ResEmoteNet, with a face-presence mask.

Per snippet, `frames_per_snippet` frames (default 2) are sampled at evenly spaced times:
frame j of snippet i shows the video at (i + j / n) * snippet_seconds (n frames per
snippet), so every frame lies inside its snippet. They are decoded at full resolution by
ffmpeg (iter_video_frames at n / snippet_seconds frames per second).

Each frame is downscaled so its longest side is at most `detection_max_side` pixels and
given to DeepFace.extract_faces (backend `detector_backend`, enforce_detection=False).
When nothing is found DeepFace returns the whole picture with confidence 0; that is not a
face and is dropped. The detected boxes are mapped back to the full-resolution frame.
One primary face is kept per frame (rule in `choose_primary_face`): the largest, most
confident one, with a bonus for overlapping the primary face of the previous sampled
frame that had a face (at most one snippet back). Its crop is taken from the full-
resolution frame, rotated so the eyes are level when `align` is on and both eyes are
known, and embedded by ResEmoteNet (extractors/resemotenet.py) in batches of
`batch_size` faces, in a background thread while the next frames are searched.

Output per snippet: features (1024,) = mean fc1 embedding over the sampled frames with a
face (zeros when none); mask = fraction of sampled frames with a face, in [0, 1];
extras["emotion"] (K,) = mean emotion probabilities over those frames (zeros when none).

DeepFace keeps its files in DEEPFACE_HOME/.deepface. This module sets DEEPFACE_HOME (see
`deepface_home_for`) before importing DeepFace, which reads it at import time, silences
DeepFace's own logger (DEEPFACE_LOG_LEVEL=40, unless the user set that variable), and
undoes the process-wide `warnings.filterwarnings("ignore")` that DeepFace's import runs.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import torch

from extractors.base import ProgressCallback, StreamExtractor, StreamFeatures
from extractors.decode import DecodeConfig, VideoProbe, iter_video_frames
from extractors.grid import SnippetGrid
from extractors.resemotenet import (
    EMBEDDING_DIM,
    FER2013_LABELS,
    CheckpointFormatError,
    ResEmoteNet,
    load_resemotenet,
    preprocess_faces,
    random_resemotenet,
)
from extractors.weights import CheckpointSpec, ResolvedWeights, WeightsError, resolve_weights

RESEMOTENET_CHECKPOINT = CheckpointSpec(
    stream="face",
    description="ResEmoteNet (FER2013, Roy et al.; github.com/ArnabKumarRoy02/ResEmoteNet, 'Checkpoints')",
    file_name="resemotenet_fer2013.pth",
    url=None,  # published in a Google Drive folder, not at a direct URL
)

# The detector backends of DeepFace 0.0.103 (deepface/modules/modeling.py), plus "skip":
# no detection, the whole frame is the face (for videos already cropped to one face).
DETECTOR_BACKENDS: tuple[str, ...] = (
    "opencv", "ssd", "dlib", "mtcnn", "fastmtcnn", "retinaface", "mediapipe", "yunet", "centerface",
    "yolov8n", "yolov8m", "yolov8l", "yolov11n", "yolov11s", "yolov11m", "yolov11l",
    "yolov12n", "yolov12s", "yolov12m", "yolov12l", "skip",
)
MAX_ALIGN_DEGREES = 45.0  # eye lines steeper than this are taken as false eyes: no rotation
DEEPFACE_QUIET_LEVEL = logging.ERROR  # DeepFace's Logger prints only errors


@dataclass(frozen=True)
class FaceConfig:
    weights_path: str = ""  # ResEmoteNet checkpoint; empty: $TORCH_HOME/hub/checkpoints/resemotenet_fer2013.pth
    emotion_labels: tuple[str, ...] = FER2013_LABELS  # names of the checkpoint's K classes, in order
    frames_per_snippet: int = 2  # frames sampled per snippet, evenly spaced inside it
    detector_backend: str = "opencv"  # DeepFace detector; "skip": the whole frame is the face
    detection_max_side: int = 640  # pixels; frames are downscaled to this longest side for detection (0: never)
    align: bool = True  # rotate each crop so the eyes are level (when both eyes are found)
    min_confidence: float = 0.0  # detections below this detector confidence are ignored
    continuity_weight: float = 1.0  # primary-face bonus per unit IoU with the previous face
    deepface_home: str = ""  # DeepFace's DEEPFACE_HOME; empty: $DEEPFACE_HOME, else $XDG_CACHE_HOME/fsenet/deepface
    batch_size: int = 32  # faces per ResEmoteNet forward pass (speed and memory only)

    def __post_init__(self) -> None:
        checks = [
            (len(self.emotion_labels) >= 1, "face.emotion_labels must name at least one class"),
            (len(set(self.emotion_labels)) == len(self.emotion_labels), f"face.emotion_labels lists a class twice: {list(self.emotion_labels)}"),
            (1 <= self.frames_per_snippet <= 64, f"face.frames_per_snippet must be in [1, 64], got {self.frames_per_snippet}"),
            (self.detector_backend in DETECTOR_BACKENDS, f"face.detector_backend must be one of {', '.join(DETECTOR_BACKENDS)}; got {self.detector_backend!r}"),
            (self.detection_max_side == 0 or self.detection_max_side >= 64, f"face.detection_max_side must be 0 (full size) or >= 64 pixels, got {self.detection_max_side}"),
            (0.0 <= self.min_confidence <= 1.0, f"face.min_confidence must be in [0, 1], got {self.min_confidence}"),
            (self.continuity_weight >= 0.0 and math.isfinite(self.continuity_weight), f"face.continuity_weight must be >= 0, got {self.continuity_weight}"),
            (self.batch_size >= 1, f"face.batch_size must be >= 1, got {self.batch_size}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


# -- DeepFace: its home folder, its logger, its import -----------------------------------
def default_deepface_home() -> Path:
    """$XDG_CACHE_HOME/fsenet/deepface, or ~/.cache/fsenet/deepface without XDG_CACHE_HOME."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fsenet" / "deepface"


def deepface_home_for(config: FaceConfig) -> Path:
    """Where DeepFace keeps its files (it adds .deepface/weights below): face.deepface_home,
    else the DEEPFACE_HOME environment variable, else `default_deepface_home()`."""
    if config.deepface_home:
        return Path(config.deepface_home).expanduser()
    if os.environ.get("DEEPFACE_HOME"):
        return Path(os.environ["DEEPFACE_HOME"])
    return default_deepface_home()


def import_deepface(home: Path) -> ModuleType:
    """deepface.DeepFace with DEEPFACE_HOME=`home`, its logger quiet, warnings left as they were."""
    os.environ["DEEPFACE_HOME"] = str(home)  # read at import (folder creation) and at each download
    user_log_level = os.environ.get("DEEPFACE_LOG_LEVEL")
    if user_log_level is None:
        os.environ["DEEPFACE_LOG_LEVEL"] = str(DEEPFACE_QUIET_LEVEL)  # read once, by its Logger singleton
    with warnings.catch_warnings():  # its import calls warnings.filterwarnings("ignore")
        from deepface import DeepFace
        from deepface.commons import folder_utils
        from deepface.commons.logger import Logger
    if user_log_level is None:  # already imported with another level earlier in this process
        Logger().log_level = max(Logger().log_level, DEEPFACE_QUIET_LEVEL)
    folder_utils.initialize_folder()  # HOME/.deepface/weights, also when imported earlier with another home
    return DeepFace


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
            rotation = cv2.getRotationMatrix2D(centre, degrees, 1.0)  # levels the eye line
            rotation[:, 2] -= (box.x0, box.y0)  # output pixel (0, 0) is the box's corner
            return cv2.warpAffine(
                frame, rotation, (width, height), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
            )
    return np.ascontiguousarray(frame[box.y0 : box.y1, box.x0 : box.x1])


# -- the extractor ------------------------------------------------------------------------
@dataclass
class FaceTimings:
    """Seconds spent in each part of the last `extract` call (wall clock).

    Embedding runs in a background thread, overlapped with decoding and detection, so
    the three parts can add up to more than the call's own duration.
    """

    decode: float = 0.0  # main thread waiting for ffmpeg's frames
    detection: float = 0.0  # main thread: downscale, DeepFace detection, primary face, crop
    embedding: float = 0.0  # embedding thread: ResEmoteNet preprocessing and forward passes
    frames: int = 0  # frames sampled
    faces: int = 0  # frames with a face


class FaceExtractor(StreamExtractor):
    name = "face"
    version = 2  # 2: ResEmoteNet head in float64 on the CPU (thread-count invariant features)
    runtime_fields = ("weights_path", "deepface_home", "batch_size")
    settings: FaceConfig

    def __init__(self, settings: FaceConfig, decode: DecodeConfig, device: str = "cpu", allow_random_weights: bool = False):
        super().__init__(settings, decode, device, allow_random_weights)
        self.weights: ResolvedWeights = resolve_weights(
            RESEMOTENET_CHECKPOINT, settings.weights_path, allow_random_weights
        )
        self.network: ResEmoteNet = self._load_network()
        self.emotion_names: tuple[str, ...] = self._emotion_names(self.network.num_classes)
        self.deepface_home = deepface_home_for(settings)
        self._deepface: Any = None
        self._deepface_version: str | None = None
        if settings.detector_backend != "skip":
            self._deepface = self._load_detector()
            from deepface import __version__ as deepface_version

            self._deepface_version = deepface_version
        self.last_timings = FaceTimings()

    # construction helpers
    def _load_network(self) -> ResEmoteNet:
        if self.weights.is_random:
            network = random_resemotenet(len(self.settings.emotion_labels), self.weights.random_seed or 0)
        else:
            try:
                network = load_resemotenet(self.weights.path)
            except CheckpointFormatError as error:
                raise WeightsError(f"face.weights_path: {error}") from None
        return network.to(self.device).eval()

    def _emotion_names(self, num_classes: int) -> tuple[str, ...]:
        configured = self.settings.emotion_labels
        if len(configured) == num_classes:
            return configured
        generic = tuple(f"class_{index}" for index in range(num_classes))
        hint = " (the authors' 6-class checkpoints: happy,surprise,sad,anger,disgust,fear)" if num_classes == 6 else ""
        warnings.warn(
            f"face: the ResEmoteNet checkpoint has {num_classes} emotion classes but face.emotion_labels "
            f"names {len(configured)}; the emotion extra uses generic names {', '.join(generic)}. "
            f"Set face.emotion_labels to the checkpoint's {num_classes} class names{hint}.",
            stacklevel=3,
        )
        return generic

    def _load_detector(self) -> Any:
        """Import DeepFace and build the detector now, so a missing detector stops before any video."""
        deepface = import_deepface(self.deepface_home)
        backend = self.settings.detector_backend
        try:
            deepface.build_model(model_name=backend, task="face_detector")
        except Exception as error:  # missing weights or package, failed download
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            if backend == "opencv":  # its Haar cascades ship with opencv 4.x, not 5.x
                fix = "install opencv-contrib-python-headless<5 (one opencv flavour only; see requirements.txt)"
            else:
                fix = (
                    f"put its weights in {self.deepface_home / '.deepface' / 'weights'} (DeepFace downloads them "
                    "there when online), install what it needs, or use face.detector_backend=opencv"
                )
            raise WeightsError(
                f"face.detector_backend={backend}: DeepFace cannot load this detector ({detail}); {fix}"
            ) from None
        return deepface

    # identity and shape
    @property
    def output_dim(self) -> int:
        return EMBEDDING_DIM

    def weights_identity(self) -> dict:
        return self.weights.identity()

    def identity(self) -> dict:
        """The base identity plus the emotion class names in use and DeepFace's version
        (its detectors' settings live in its code, so another version may find other faces)."""
        identity = super().identity()
        identity["emotion_classes"] = list(self.emotion_names)
        identity["deepface_version"] = self._deepface_version
        return identity

    # per frame
    def detect_faces(self, frame: np.ndarray) -> list[FaceBox]:
        """Faces in one (H, W, 3) uint8 RGB frame, in full-resolution pixels (maybe none)."""
        height, width = frame.shape[:2]
        config = self.settings
        if config.detector_backend == "skip":
            return [FaceBox(0, 0, width, height, 1.0)]
        scale = 1.0
        if config.detection_max_side and max(height, width) > config.detection_max_side:
            scale = config.detection_max_side / max(height, width)
        small_width, small_height = max(1, round(width * scale)), max(1, round(height * scale))
        small = frame if scale == 1.0 else cv2.resize(frame, (small_width, small_height), interpolation=cv2.INTER_AREA)
        detections = self._deepface.extract_faces(
            img_path=cv2.cvtColor(small, cv2.COLOR_RGB2BGR),  # DeepFace takes arrays as BGR
            detector_backend=config.detector_backend,
            enforce_detection=False,
            align=False,  # alignment is done on the full-resolution crop (crop_face)
            expand_percentage=0,
        )
        to_full_x, to_full_y = width / small_width, height / small_height
        boxes = []
        for detection in detections:
            area = detection["facial_area"]
            x, y, w, h = int(area["x"]), int(area["y"]), int(area["w"]), int(area["h"])
            confidence = float(detection.get("confidence") or 0.0)
            whole_picture = x == 0 and y == 0 and w >= small_width - 1 and h >= small_height - 1
            if confidence <= 0.0 and whole_picture:
                continue  # DeepFace's "no face found" answer with enforce_detection=False
            if confidence < config.min_confidence or w <= 0 or h <= 0:
                continue
            x0, y0 = max(0, math.floor(x * to_full_x)), max(0, math.floor(y * to_full_y))
            x1, y1 = min(width, math.ceil((x + w) * to_full_x)), min(height, math.ceil((y + h) * to_full_y))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            eyes = [
                None if area.get(key) is None else (area[key][0] * to_full_x, area[key][1] * to_full_y)
                for key in ("left_eye", "right_eye")
            ]
            boxes.append(FaceBox(x0, y0, x1, y1, min(max(confidence, 0.0), 1.0), eyes[0], eyes[1]))
        return boxes

    def embed_faces(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Face crops ((h, w, 3) uint8 RGB) -> (N, 1024) fc1 embeddings, (N, K) emotion probabilities."""
        embeddings, probabilities = [], []
        with torch.inference_mode():
            for start in range(0, len(crops), self.settings.batch_size):
                batch = preprocess_faces(crops[start : start + self.settings.batch_size]).to(self.device)
                embedding, logits = self.network(batch)
                embeddings.append(embedding.float().cpu().numpy())
                probabilities.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(embeddings), np.concatenate(probabilities)

    # per video
    def extract(self, probe: VideoProbe, grid: SnippetGrid, progress: ProgressCallback) -> StreamFeatures:
        config = self.settings
        count, per_snippet = grid.num_snippets, config.frames_per_snippet
        num_classes = len(self.emotion_names)
        embedding_sum = np.zeros((count, EMBEDDING_DIM), dtype=np.float64)
        emotion_sum = np.zeros((count, num_classes), dtype=np.float64)
        faces_per_snippet = np.zeros(count, dtype=np.int64)
        timings = self.last_timings = FaceTimings()
        if not probe.has_video:  # nothing to see: no face anywhere
            progress(count)
            return self._result(embedding_sum, emotion_sum, faces_per_snippet)

        pending_crops: list[np.ndarray] = []  # crops waiting for a full batch
        pending_snippets: list[int] = []  # their snippets
        in_flight: collections.deque[tuple[Future, np.ndarray]] = collections.deque()  # batches being embedded
        previous_face: FaceBox | None = None
        previous_frame = -(10**9)
        reported = 0
        frame_index = 0

        def submit_pending(embedder: ThreadPoolExecutor) -> None:
            in_flight.append((embedder.submit(self._embed_timed, list(pending_crops)), np.asarray(pending_snippets)))
            pending_crops.clear()
            pending_snippets.clear()

        def collect_embedded(keep: int) -> None:
            """Add finished batches, oldest first (so the sums do not depend on timing),
            waiting for the oldest while more than `keep` batches are in flight."""
            while in_flight and (len(in_flight) > keep or in_flight[0][0].done()):
                future, snippets = in_flight.popleft()
                embeddings, probabilities, seconds = future.result()
                np.add.at(embedding_sum, snippets, embeddings)
                np.add.at(emotion_sum, snippets, probabilities)
                timings.embedding += seconds

        frames = iter_video_frames(
            probe, self.decode, per_snippet / grid.snippet_seconds, count * per_snippet,
            chunk_frames=max(per_snippet, 8),
        )
        # ResEmoteNet runs in one background thread while the next frames are decoded and
        # searched for faces (torch and OpenCV release the GIL).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="face-embedding") as embedder:
            try:
                waited = time.perf_counter()
                for chunk in frames:
                    timings.decode += time.perf_counter() - waited
                    for frame in chunk:
                        started = time.perf_counter()
                        snippet = frame_index // per_snippet
                        if frame_index - previous_frame > per_snippet:
                            previous_face = None  # continuity only with a face at most one snippet back
                        boxes = self.detect_faces(frame)
                        face = choose_primary_face(boxes, frame.shape[0] * frame.shape[1], previous_face, config.continuity_weight)
                        if face is not None:
                            pending_crops.append(crop_face(frame, face, config.align))
                            pending_snippets.append(snippet)
                            faces_per_snippet[snippet] += 1
                            previous_face, previous_frame = face, frame_index
                        frame_index += 1
                        timings.detection += time.perf_counter() - started
                        if len(pending_crops) >= config.batch_size:
                            collect_embedded(keep=1)  # at most two batches in flight
                            submit_pending(embedder)
                    collect_embedded(keep=len(in_flight))  # only those already done
                    # snippets whose frames are all searched and whose faces are all embedded
                    unfinished = [frame_index // per_snippet]
                    if in_flight:
                        unfinished.append(int(in_flight[0][1][0]))
                    unfinished += pending_snippets[:1]
                    finished = min(unfinished)
                    if finished > reported:
                        progress(finished - reported)
                        reported = finished
                    waited = time.perf_counter()
                if pending_crops:
                    submit_pending(embedder)
                collect_embedded(keep=0)
            finally:
                for future, _ in in_flight:
                    future.cancel()
        timings.frames, timings.faces = frame_index, int(faces_per_snippet.sum())
        if count > reported:
            progress(count - reported)
        return self._result(embedding_sum, emotion_sum, faces_per_snippet)

    def _embed_timed(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
        """`embed_faces` and the seconds it took (run in the embedding thread)."""
        started = time.perf_counter()
        embeddings, probabilities = self.embed_faces(crops)
        return embeddings, probabilities, time.perf_counter() - started

    def _result(self, embedding_sum: np.ndarray, emotion_sum: np.ndarray, faces_per_snippet: np.ndarray) -> StreamFeatures:
        """Means over the frames with a face; zeros (never NaN) for snippets without one."""
        with_face = faces_per_snippet > 0
        divisor = np.maximum(faces_per_snippet, 1)[:, None]
        features = np.where(with_face[:, None], embedding_sum / divisor, 0.0).astype(np.float32)
        emotion = np.where(with_face[:, None], emotion_sum / divisor, 0.0).astype(np.float32)
        mask = (faces_per_snippet / self.settings.frames_per_snippet).astype(np.float32)
        return StreamFeatures(features, mask, {"emotion": emotion})
