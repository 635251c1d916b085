"""The README's Python examples run as written, from the root of the clone, and print what the
README says they print."""

import contextlib
import io
import os
import re

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## From Python", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```python\n(.*?)```", SECTION, flags=re.S)


def run(code: str, namespace: dict) -> str:
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return out.getvalue()


def squeeze(line: str) -> str:
    return " ".join(line.split())


def test_the_section_has_its_two_examples():
    assert len(BLOCKS) == 2, f"expected 2 python blocks under 'From Python', found {len(BLOCKS)}"


def test_the_ten_line_example_prints_what_the_readme_says():
    printed = SECTION.split(BLOCKS[0], 1)[1]
    expected = re.search(r"prints\s*\n\s*```\n(.*?)```", printed, flags=re.S)
    assert expected, "the README gives no 'prints' block after the first example"
    assert run(BLOCKS[0], {}) == expected.group(1)


def test_the_model_and_sweep_example_prints_its_comments():
    namespace: dict = {}
    run(BLOCKS[0], namespace)
    got = [squeeze(line) for line in run(BLOCKS[1], namespace).splitlines()]
    comments = [squeeze(line[1:]) for line in BLOCKS[1].splitlines() if line.startswith("# ")]
    assert comments, "the second example states no output"
    missing = [c for c in comments if c not in got]
    assert not missing, f"printed {got}, missing {missing}"
