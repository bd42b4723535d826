"""Every command docs/performance.md names exists: each ``benchmarks/*.py`` (and ``tests/...``)
path is a file, and each ``--flag`` written next to a benchmark script is one that script (or a
script named in the same section) accepts."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "performance.md"
PATH = re.compile(r"\b((?:benchmarks|tests)/[\w/.-]+\.(?:py|sh|html))")
SPAN = re.compile(r"`([^`]+)`")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
# Options the doc quotes of other programs, not of a benchmark.
OTHER_PROGRAMS = {
    "--disable-gpu": "Chromium's (editor_speed.py launches it with tests/browser's CHROMIUM_ARGS)",
    "--pool": "the Celery worker's",
}


def flags_of(script: Path) -> set[str]:
    return set(re.findall(r"[\"'](--[a-z][a-z0-9-]*)[\"']", script.read_text(encoding="utf-8")))


def test_every_path_named_in_the_performance_doc_exists():
    named = set(PATH.findall(DOC.read_text(encoding="utf-8")))
    assert named, "the doc names no benchmark"
    assert sorted(p for p in named if not (ROOT / p).is_file()) == []


def test_every_flag_named_next_to_a_benchmark_is_one_it_accepts():
    unknown, section = [], []
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#"):
            section = []
        scripts = [ROOT / p for p in PATH.findall(line) if p.startswith("benchmarks/") and p.endswith(".py")]
        section = scripts + section if scripts else section
        accepted = set().union(*(flags_of(s) for s in section)) if section else set()
        for span in SPAN.findall(line):
            if "pytest" in span:  # pytest's own options
                continue
            for flag in FLAG.findall(span):
                if flag in OTHER_PROGRAMS:
                    continue
                if not section or flag not in accepted:
                    unknown.append(f"line {number}: {flag} ({', '.join(s.name for s in section) or 'no script'})")
    assert unknown == []
