"""Made-up frames with real faces, and frames without any, from pictures that installed
packages ship: skimage's astronaut photo and LFW subset, matplotlib's Grace Hopper photo,
skimage's photos of things; and the frames of a test-pattern video. Nothing is
downloaded, so they work offline.

The faces are scaled, moved, rotated about the face and pasted on a grey frame (seeded),
with where they are (`PlacedFace`), so a detector's boxes can be checked against them
(`bench face` compares the detectors on them; the face stream's tests use them).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Face boxes (x0, y0, x1, y1) in the photos' own pixels, as every detector finds them at full size.
FACE_PHOTO_BOXES: dict[str, tuple[float, float, float, float]] = {
    "astronaut": (178.0, 57.0, 273.0, 177.0),  # skimage.data.astronaut(), 512 x 512 (Eileen Collins)
    "grace_hopper": (178.0, 107.0, 354.0, 328.0),  # matplotlib's sample_data/grace_hopper.jpg, 512 x 600
}
FACELESS_PHOTOS = (  # skimage.data pictures without a person
    "chelsea", "coffee", "rocket", "hubble_deep_field", "horse", "brick", "grass", "gravel", "coins", "page",
    "text", "logo", "immunohistochemistry", "cell", "colorwheel", "retina", "microaneurysms", "moon", "clock",
    "checkerboard",
)


@functools.lru_cache(maxsize=len(FACE_PHOTO_BOXES))
def face_photo(name: str) -> np.ndarray:
    """One of FACE_PHOTO_BOXES' photos, (H, W, 3) uint8 RGB, read from the package that ships
    it (once per process: callers must not modify it)."""
    if name == "astronaut":
        from skimage.data import astronaut

        photo = astronaut()
    else:
        from matplotlib import cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
            photo = np.array(image.convert("RGB"))
    photo.flags.writeable = False
    return photo


@dataclass(frozen=True)
class PlacedFace:
    """A frame showing one real face, and where: centre (x, y) and size (w, h) in pixels."""

    frame: np.ndarray
    centre: tuple[float, float]
    size: tuple[float, float]

    def found_by(self, box) -> bool:
        """A detected box (x0, y0, x1, y1 attributes) marks this face: its centre within 0.6
        face sizes of the face's centre and its width 0.4-2.5 times the face's."""
        (cx, cy), (w, h) = self.centre, self.size
        return (abs((box.x0 + box.x1) / 2 - cx) <= 0.6 * w and abs((box.y0 + box.y1) / 2 - cy) <= 0.6 * h
                and 0.4 * w <= box.x1 - box.x0 <= 2.5 * w)


def place_face(
    name: str, frame_size: tuple[int, int], face_width: float, centre: tuple[float, float],
    degrees: float = 0.0, background: int = 96, jpeg_quality: int | None = None,
) -> PlacedFace:
    """The photo `name` scaled so its face is `face_width` pixels wide, rotated by `degrees`
    about the face, with the face centred at `centre` of a (W, H) grey frame."""
    import cv2

    photo, (x0, y0, x1, y1) = face_photo(name), FACE_PHOTO_BOXES[name]
    scale, face_centre = face_width / (x1 - x0), ((x0 + x1) / 2, (y0 + y1) / 2)
    warp = cv2.getRotationMatrix2D(face_centre, degrees, scale)
    warp[:, 2] += (centre[0] - face_centre[0], centre[1] - face_centre[1])
    frame = cv2.warpAffine(photo, warp, frame_size, flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(background,) * 3)
    if jpeg_quality is not None:
        _, encoded = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        frame = np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1])
    return PlacedFace(frame, centre, (face_width, face_width * (y1 - y0) / (x1 - x0)))


def lfw_frames(faces: bool, side: int = 50, frame_size: tuple[int, int] = (640, 360), seed: int = 0) -> list:
    """skimage's LFW subset (100 faces, then 100 non-face patches, 25 x 25 grey) shown at
    `side` pixels on a grey frame: PlacedFace for faces, plain frames for the rest."""
    import cv2
    from skimage.data import lfw_subset

    rng, (width, height) = np.random.default_rng(seed), frame_size
    placed = []
    for patch in lfw_subset()[:100] if faces else lfw_subset()[100:]:
        grey = cv2.resize((patch * 255).astype(np.uint8), (side, side), interpolation=cv2.INTER_CUBIC)
        frame = np.full((height, width, 3), 96, np.uint8)
        x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
        frame[y : y + side, x : x + side] = grey[:, :, None]
        placed.append(PlacedFace(frame, (x + side / 2, y + side / 2), (side, side)) if faces else frame)
    return placed


def face_trials(seed: int = 0) -> dict[str, list[PlacedFace]]:
    """Frames with one real face each, by trial: small faces in 720p, tilted faces,
    low resolution with JPEG artefacts, 100 other people (LFW crops)."""
    rng = np.random.default_rng(seed)

    def spot(size, width):  # a random face centre that keeps the face inside the frame
        return (float(rng.uniform(width, size[0] - width)), float(rng.uniform(1.3 * width, size[1] - 1.3 * width)))

    hd, small = (1280, 720), (176, 144)
    trials = {
        "astronaut, ~60 px face in 720p": [
            place_face("astronaut", hd, w, spot(hd, w)) for w in rng.uniform(54, 66, 20)
        ],
        "astronaut, ~30 px face in 720p": [
            place_face("astronaut", hd, w, spot(hd, w)) for w in rng.uniform(27, 33, 20)
        ],
        "Grace Hopper, ~45 px face in 720p": [
            place_face("grace_hopper", hd, w, spot(hd, w)) for w in rng.uniform(40, 50, 20)
        ],
        "tilted 15-45 degrees, 80 px face in 640x360": [
            place_face(name, (640, 360), 80, (320, 180), degrees)
            for name in FACE_PHOTO_BOXES for degrees in (-45, -30, -15, 15, 30, 45)
        ],
        "176x144, ~35 px face tilted up to 20 degrees, JPEG q35": [
            place_face(name, small, w, spot(small, w), float(rng.uniform(-20, 20)), jpeg_quality=35)
            for name in FACE_PHOTO_BOXES for w in rng.uniform(30, 40, 10)
        ],
    }
    trials["LFW: 100 people, 25 px tight crops shown at 50 px"] = lfw_frames(faces=True)
    return trials


def faceless_trials(pattern_video: Path, lfw_frame_size: tuple[int, int] = (640, 360)) -> dict[str, list[np.ndarray]]:
    """Frames without a face: skimage's photos of things, ffmpeg's test pattern (every
    frame of `pattern_video`), LFW's non-face patches (on frames of `lfw_frame_size`)."""
    import av
    import skimage.data
    from skimage.color import gray2rgb

    photos = []
    for name in FACELESS_PHOTOS:
        picture = getattr(skimage.data, name)()
        picture = gray2rgb(picture) if picture.ndim == 2 else picture[:, :, :3]
        photos.append(np.ascontiguousarray((picture * 255 if picture.dtype != np.uint8 else picture).astype(np.uint8)))
    with av.open(str(pattern_video)) as container:
        pattern = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return {
        f"{len(photos)} photos of things": photos,
        f"test pattern, {len(pattern)} frames 720p": pattern,
        "LFW: 100 non-face patches at 50 px": lfw_frames(faces=False, frame_size=lfw_frame_size),
    }
