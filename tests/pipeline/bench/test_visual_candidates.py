"""`bench visual`'s candidate table: which rows keep the cache identity (the figures
themselves are the machine's and are not asserted)."""

import numpy as np

from extractors.visual import VisualConfig
from pipeline.bench.visual_candidates import CandidateResult, candidates_table, per_snippet_cosine


def result(name: str, features: np.ndarray | None, error: str = "", **settings) -> CandidateResult:
    return CandidateResult(name, VisualConfig(**settings), error=error, network_rate=2.0, stream_seconds=5.0,
                           decode_seconds=1.0, duration=10.0, features=features)


def test_rows_say_whether_the_identity_is_kept():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((6, 16)).astype(np.float32)
    close = reference + 1e-3 * rng.standard_normal(reference.shape).astype(np.float32)
    far = reference.copy()
    far[2] = rng.standard_normal(16)  # one snippet off is enough to leave the tolerance
    assert per_snippet_cosine(reference, far).argmin() == 2 and per_snippet_cosine(reference, close).min() > 0.999
    table = candidates_table([
        result("reference", reference, runtime="torch", precision="fp32"),
        result("reordered", close, runtime="openvino", precision="fp32"),
        result("off", far, runtime="openvino", precision="bf16"),
        result("smaller crop", close, runtime="openvino", crop_size=224),
        result("absent", None, error="visual.runtime=openvino needs the openvino package", runtime="openvino"),
    ], (256, 256)).splitlines()
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [row[-1] for row in cells] == ["kept", "kept", "BEYOND tolerance", "changes (crop)",
                                          "not run: visual.runtime=openvino needs the openvino package"]
    assert cells[0][3] == "256 / 256" and cells[3][3] == "256 / 224"
    assert cells[1][5] == "**2.00x**" and cells[1][6] == "1.67x"  # 10 s of video: 5 s streamed; 1 s + 5 s in turn
