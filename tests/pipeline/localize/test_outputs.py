"""Every file `localize` writes for a video and for the run (pipeline/localize/outputs.py),
with names a filesystem allows but a careless writer does not: bytes that are not UTF-8,
names as long as a file name may be. One real `localize` run of 1-second videos with such
names (tests/pipeline/conftest.py's tiny model), parsed back with standard tools."""

from __future__ import annotations

import csv
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest

from pipeline.data.activitynet import load_predictions
from pipeline.synthetic.videos import write_test_pattern_video
from tests.conftest import cli
from tests.pipeline.localize.test_html_report import report_data_block

NOT_UTF8 = os.fsdecode(b"\xe0 bient\xf4t")  # Latin-1 bytes: a name that is not UTF-8 text
GREEK = "λ" * 120  # 240 bytes: "<name>.labels.txt" fits in 255, its temp name would not
LONGEST = "a" * 251  # "<name>.mp4" is 255 bytes, the most a name may have: "<name>.labels.txt" would not fit
RUN_LEVEL_LOOKALIKES = {  # file stem -> the folder its outputs get (never one of OUT_DIR's own files)
    "Label_Studio_Config.XML": "_Label_Studio_Config.XML", "cache": "_cache", "_results.json": "__results.json",
}
NESTED_LOOKALIKES = {  # a video inside the folder of the video "plain", named like one of its files -> its folder
    "plain/segments.json": "plain/_segments.json", "plain/plain.srt": "plain/_plain.srt",
    "plain/report.html": "plain/_report.html", "plain/_report.html": "plain/__report.html",
}
STEMS = (NOT_UTF8, "plain", GREEK, LONGEST, *RUN_LEVEL_LOOKALIKES, *NESTED_LOOKALIKES)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:  # strict UTF-8: a raw byte would fail here
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def named_run(localized_run, tmp_path_factory):
    """`localize` (real extraction) on a folder of 1-second videos named as above, beside a plain one."""
    root = tmp_path_factory.mktemp("names")
    videos = root / "videos"
    for index, stem in enumerate(STEMS):
        write_test_pattern_video(videos / f"{stem}.mp4", 1.0, size=(64, 48), tone_hz=300.0 + 90 * index)
    out = root / "out"
    result = cli("localize", str(videos), "--model", str(localized_run.model), "--out", str(out), "--random-weights",
                 "--no-progress", "--device", "cpu")
    return videos, out, result


def test_a_name_that_is_not_utf8_gets_every_output_and_keeps_its_bytes(named_run):
    videos, out, result = named_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(STEMS)} video(s) localized, 0 failed" in result.stdout and "\\xe0 bient\\xf4t" in result.stdout
    assert set(load_predictions(out / "results.json")) == set(STEMS)  # JSON: the exact name back
    rows = {row["video_id"]: row for row in read_csv(out / "summary.csv")}
    assert rows["\\xe0 bient\\xf4t"]["status"] == "localized"  # text files: the bytes as escapes
    folder = out / NOT_UTF8
    assert os.fsencode(folder).endswith(b"/\xe0 bient\xf4t")
    assert {p.name for p in folder.iterdir()} >= {f"{NOT_UTF8}.srt", f"{NOT_UTF8}.eaf", "report.html", "timeline.png"}
    for path in folder.iterdir():
        if path.suffix != ".png":
            path.read_text(encoding="utf-8")  # every text file is valid UTF-8
    header = json.loads((folder / "segments.json").read_text(encoding="utf-8"))["localize"]
    assert header["video_id"] == NOT_UTF8 and header["source"] == f"{NOT_UTF8}.mp4"
    media = ET.parse(folder / f"{NOT_UTF8}.eaf").getroot().find("HEADER/MEDIA_DESCRIPTOR")
    linked = folder / os.fsdecode(unquote_to_bytes(media.get("RELATIVE_MEDIA_URL")))
    assert linked.resolve() == (videos / f"{NOT_UTF8}.mp4").resolve()  # the link reaches the very file
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert '/%E0%20bient%F4t.mp4"' in page and "\\xe0 bient\\xf4t" in page
    assert json.loads(report_data_block(page))["video_name"] == f"{NOT_UTF8}.mp4"  # the page script's data parses
    tasks = json.loads((out / "label_studio.json").read_text(encoding="utf-8"))
    assert {task["data"]["video_id"] for task in tasks} == set(STEMS)


def test_names_as_long_as_a_file_name_may_be_get_every_output(named_run, localized_run):
    from pipeline.data.annotations import ClassVocabulary, read_annotations

    _, out, result = named_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(os.fsencode(f"{LONGEST}.mp4")) == 255
    for stem, labels_name in ((GREEK, f"{GREEK}.labels.txt"), (LONGEST, f"{'a' * 244}.labels.txt")):
        folder = out / stem
        assert {p.name for p in folder.iterdir()} >= {labels_name, "report.html", "timeline.png", "segments.json"}
        assert max(len(os.fsencode(p.name)) for p in folder.iterdir()) <= 255
        duration = json.loads((folder / "segments.json").read_text())["localize"]["duration_seconds"]
        back = read_annotations(folder / labels_name, ClassVocabulary(("negative", "positive")),
                                {stem: duration, "plain": duration})  # the cut name still finds its video
        assert back.problems == [] and back.videos == {stem}, back.problems
    page = (out / LONGEST / "report.html").read_text(encoding="utf-8")
    assert f'href="{"a" * 244}.labels.txt"' in page  # the report links the file under its cut name


def test_a_video_named_like_a_run_file_gets_its_own_folder_and_the_run_files_stay_files(named_run):
    _, out, result = named_run
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("results.json", "summary.csv", "label_studio.json", "label_studio_config.xml"):
        assert (out / name).is_file(), name
    assert (out / "cache" / "cache.json").is_file()  # the default feature cache, untouched by the video "cache"
    rows = {row["video_id"]: row for row in read_csv(out / "summary.csv")}
    for stem, folder in RUN_LEVEL_LOOKALIKES.items():
        assert rows[stem]["outputs"] == folder and (out / folder / f"{stem}.srt").is_file(), stem
        assert json.loads((out / folder / "segments.json").read_text())["localize"]["video_id"] == stem
    assert rows["plain"]["outputs"] == "plain"


def test_a_video_inside_another_video_s_folder_never_takes_the_name_of_one_of_its_files(named_run):
    """plain.mp4 beside plain/segments.json.mp4: the second one's folder was plain/segments.json,
    the first one's file, and it failed ('cannot write outputs: plain/segments.json: File exists')."""
    _, out, result = named_run
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["video_id"]: row for row in read_csv(out / "summary.csv")}
    for stem, folder in NESTED_LOOKALIKES.items():
        assert rows[stem]["status"] == "localized" and rows[stem]["outputs"] == folder, rows[stem]
        assert json.loads((out / folder / "segments.json").read_text())["localize"]["video_id"] == stem
    for name in ("segments.json", "plain.srt", "report.html"):
        assert (out / "plain" / name).is_file(), name  # the video "plain" keeps its own files


def test_localize_into_a_folder_of_the_users_own_files_replaces_none_of_them(localized_run, tmp_path):
    library = tmp_path / "library"
    write_test_pattern_video(library / "talk.mkv", 1.0, size=(64, 48), tone_hz=440.0)
    theirs = write_test_pattern_video(library / "talk" / "talk.mkv", 1.0, size=(64, 48), tone_hz=550.0)  # another video
    (library / "summary.csv").write_text("their own spreadsheet\n")
    kept = {path: path.read_bytes() for path in (theirs, library / "summary.csv")}
    for mode in ("link", "copy", "link"):  # reruns too: a copy or a link localize made is no new video
        result = cli("localize", str(library), "--model", str(localized_run.model), "--out", str(library), "--video",
                     mode, "--random-weights", "--no-progress", "--device", "cpu")
        assert result.returncode == 1 and "1 video(s) localized, 1 failed" in result.stdout, \
            result.stdout + result.stderr
        assert ("talk.mkv: cannot write outputs: talk/talk.mkv: a file localize did not write is in the way"
                in result.stdout)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and f"{library / 'summary.csv'}: a file localize did not write" in errors[0], errors
        assert {path: path.read_bytes() for path in kept} == kept and not theirs.is_symlink()
        assert (library / "talk" / "talk" / "report.html").is_file()  # the other video, in its own folder
    assert not (library / "talk" / "talk" / "talk").exists()
    assert os.path.samefile(library / "talk" / "talk" / "talk.mkv", theirs)  # its link (the last run's mode)


def test_outputs_of_an_earlier_version_without_a_manifest_are_localize_s_own(localized_run, tmp_path):
    out = tmp_path / "out"
    arguments = ["localize", str(localized_run.localized_video), "--model", str(localized_run.model), "--out", str(out),
                 "--cache", str(localized_run.out / "cache"), "--video", "copy", "--random-weights", "--quiet",
                 "--device", "cpu"]
    assert cli(*arguments).returncode == 0
    for manifest in out.rglob(".fsenet-localize.json"):
        manifest.unlink()  # as an earlier version left its outputs
    again = cli(*arguments)
    assert again.returncode == 0 and "error" not in again.stdout + again.stderr, again.stdout + again.stderr
    assert (out / "demo 01" / ".fsenet-localize.json").is_file() and (out / ".fsenet-localize.json").is_file()


def test_a_run_file_that_cannot_be_written_is_one_line_naming_it_and_the_rest_is_written(localized_run, tmp_path):
    from tests.conftest import make_read_only

    out = tmp_path / "out"
    arguments = ["localize", str(localized_run.localized_video), "--model", str(localized_run.model), "--out", str(out),
                 "--cache", str(localized_run.out / "cache"), "--random-weights", "--quiet", "--device", "cpu"]
    assert cli(*arguments).returncode == 0
    (out / "summary.csv").write_text("stale")
    undo = make_read_only(out / "results.json")  # a write that fails, as on a full disk
    try:
        again = cli(*arguments)
    finally:
        undo()
    assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr
    errors = [line for line in again.stderr.splitlines() if not line.startswith("warning: the face features")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {out / 'results.json'}: "), errors
    assert errors[0].endswith("; not written (the videos' own files are)")
    assert read_csv(out / "summary.csv")[0]["status"] == "localized"  # the other run files are written


def test_writes_failing_as_on_a_full_disk_name_the_file_they_could_not_write(localized_run, tmp_path):
    """A write that fails after its file was opened (a full disk; here a file-size limit)
    names the file: the video's reason named none ('cannot write outputs: File too large')
    and the run's line read 'error: None: File too large'."""
    import resource
    import subprocess
    import sys

    from tests.conftest import ROOT

    reference, out = tmp_path / "reference", tmp_path / "out"
    arguments = ["localize", str(localized_run.localized_video), "--model", str(localized_run.model),
                 "--cache", str(localized_run.out / "cache"), "--random-weights", "--quiet", "--device", "cpu"]
    assert cli(*arguments, "--out", str(reference)).returncode == 0
    [row] = read_csv(reference / "summary.csv")
    limit = max(path.stat().st_size for path in reference.rglob(".fsenet-localize.json")) + 1
    assert (reference / row["outputs"] / "segments.json").stat().st_size > limit  # the manifests fit, it does not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), *arguments, "--out", str(out)], capture_output=True,
                            text=True, cwd=ROOT, preexec_fn=small_files, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr and "None" not in result.stderr, result.stderr
    reason = f": cannot write outputs: {row['outputs']}/segments.json: File too large"
    assert any(line.endswith(reason) for line in result.stdout.splitlines()), result.stdout  # the failed videos
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors and all(line.startswith(f"error: {out}/") and ": File too large" in line for line in errors), errors
    assert any(line.startswith(f"error: {out / 'results.json'}: File too large") for line in errors), errors
