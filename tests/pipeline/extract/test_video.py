"""pipeline/extract/video.py: preparing the cache, which several runs may do at once on a
folder that does not exist yet (the per-video work is tested through run_extract in
test_stage.py and test_concurrent.py)."""

from __future__ import annotations

import multiprocessing

from cache.store import FeatureCache
from pipeline.config import load_config
from pipeline.extract.video import prepare_cache


def _prepare_when_all_are_ready(cache_dir, ready, errors) -> None:
    ready.wait()
    try:
        prepare_cache(FeatureCache(cache_dir), load_config(None, []), log=lambda message: None)
    except Exception as error:  # reported to the test, which names it
        errors.put(f"{type(error).__name__}: {error}")


def test_runs_making_one_new_cache_at_once_all_succeed(tmp_path):
    """Three processes released together by a barrier, 40 times: before the cache root was
    made under its lock, about 1 trial in 10 failed (one run's cleanup removed another's
    cache.json temp file, or a run saw cache.json appear while it listed the folder)."""
    context = multiprocessing.get_context("fork")  # cheap starts: the race is in the first milliseconds
    errors = context.Queue()
    for trial in range(40):
        ready = context.Barrier(3)
        runs = [context.Process(target=_prepare_when_all_are_ready, args=(tmp_path / f"cache {trial}", ready, errors))
                for _ in range(3)]
        for run in runs:
            run.start()
        for run in runs:
            run.join(timeout=60)
        assert [run.exitcode for run in runs] == [0, 0, 0]
        assert errors.empty(), errors.get()
        assert FeatureCache(tmp_path / f"cache {trial}").is_cache()
