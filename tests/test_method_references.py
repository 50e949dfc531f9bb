"""Every place the code cites the method spec by section (`docs/method.md, "Heading"`) names a
heading that docs/method.md has, so a reader who follows the reference finds it."""

from __future__ import annotations

import re

from tests.test_architecture import MODULES, ROOT

CITATION = re.compile(r'method\.md,\s+"([^"]+)"')


def _headings() -> set[str]:
    lines = (ROOT / "docs" / "method.md").read_text(encoding="utf-8").splitlines()
    return {line.lstrip("#").strip() for line in lines if line.startswith("#")}


def test_every_cited_section_of_the_method_spec_exists():
    headings = _headings()
    cited = {}
    for path in MODULES.values():
        for heading in CITATION.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(" ".join(heading.split()), path.relative_to(ROOT))
    assert {"Inference", "BSPG: boundary-aware pseudo-labels"} <= set(cited)  # the scan finds the citations
    missing = {heading: str(path) for heading, path in cited.items() if heading not in headings}
    assert not missing, f"cited sections that docs/method.md lacks: {missing}"
