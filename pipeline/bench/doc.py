"""docs/benchmarks.md is written by the benchmark commands: each owns one section,
delimited by HTML comments, and replaces only that section when it runs again."""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

from cache.atomic import atomic_write_text
from extractors.hardware import available_cores

DOC_HEADER = """# Benchmarks

Every figure here was written by the command shown above it; rerun the command to
refresh its section. Sections are independent (each names its machine and date).
"""


def machine_description() -> str:
    """CPU model, cores usable by this process, memory, and the GPU when torch sees one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = available_cores()
    memory = ""
    try:
        total = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        kib = int(total.split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", GPU: {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{cpu}, {cores} cores{memory}{gpu}"


def git_revision() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        return result.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def section_stamp(command: str) -> str:
    """The lines every section starts with: command, machine, date, code revision."""
    return (
        f"Command: `{command}`  \n"
        f"Machine: {machine_description()}  \n"
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}, code {git_revision()}\n"
    )


def update_section(doc: Path, section_id: str, title: str, body: str) -> None:
    """Replace (or append) the section `section_id` of the markdown file `doc`."""
    doc = Path(doc)
    text = doc.read_text(encoding="utf-8") if doc.exists() else DOC_HEADER
    begin, end = f"<!-- bench:{section_id} -->", f"<!-- /bench:{section_id} -->"
    block = f"{begin}\n## {title}\n\n{body.strip()}\n{end}"
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    atomic_write_text(doc, text)


def update_device_section(doc: Path, section_id: str, title: str, command: str, device: str, body: str) -> None:
    """`update_section` for figures that depend on the device: one section per device kind
    (`<section_id>-cpu`, `<section_id>-cuda`, titled "<title> on CPU" ...), stamped with
    `command` (plus `--device KIND` off the CPU when the command does not say it)."""
    kind = device.split(":")[0]
    if kind != "cpu" and "--device" not in command:
        command += f" --device {kind}"
    update_section(doc, f"{section_id}-{kind}", f"{title} on {kind.upper()}", section_stamp(command) + "\n" + body)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
