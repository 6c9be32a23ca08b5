"""The documentation site builds in strict mode, with its API reference and executed tutorial.

The tools come with the ``docs`` (and ``dev``) extra, not with ``test``: without
them the test is skipped. The build runs the tutorial's commands, the
``divergences gradients --quick`` run included, so it takes 20 to 40 seconds.
With ``DIVERGENCES_DOCS_SITE`` naming a site that ``mkdocs build --strict``
has just built (as ``.ci/run`` does), the checks run on it instead.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_TOOLS = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "markdown_exec")


def _missing_tools() -> list[str]:
    missing = []
    for name in (*_TOOLS, "matplotlib"):
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


pytestmark = pytest.mark.skipif(
    bool(_missing_tools()),
    reason=f"the docs tools are not installed ({', '.join(_missing_tools())}); "
    "install them with: pip install -e '.[docs]'",
)


def _text(page: Path) -> str:
    """The page's visible text, tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = os.environ.get("DIVERGENCES_DOCS_SITE")
    if built:  # .ci/run has just built the site strictly: check that one, do not rebuild
        return Path(built)
    site_dir = tmp_path_factory.mktemp("site")
    env = dict(os.environ)
    # This checkout's package, not whichever one the environment has installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["NO_MKDOCS_2_WARNING"] = "1"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}{build.stderr}"
    return site_dir


def test_api_reference_is_generated_from_the_docstrings(site: Path):
    neural = (site / "api" / "neural" / "index.html").read_text(encoding="utf-8")
    assert 'id="divergences.neural.wasserstein_dual"' in neural
    assert "Kantorovich-Rubinstein" in neural
    transport = (site / "api" / "transport" / "index.html").read_text(encoding="utf-8")
    # The reStructuredText maths became MathJax input, none of it is left raw.
    assert '<div class="arithmatex">' in transport
    assert ":math:`" not in transport
    assert ".. math::" not in transport


def test_tutorial_shows_the_executed_output(site: Path):
    text = _text(site / "tutorial" / "index.html")
    assert "Execution of" not in text
    # Step 3 prints the exact W1 of the two files; the compare table of step 2 must
    # show the same number (the linear program is deterministic).
    python_w1 = float(re.search(r"W1 exact\s+(\d+\.\d+)\s+\(true", text).group(1))
    compare_output = text[
        text.index("divergences compare p.npy q.csv") : text.index("W1 exact is the earth")
    ]
    numbers = [float(value) for value in re.findall(r"\d+\.\d+", compare_output)]
    assert any(abs(value - python_w1) < 1e-3 for value in numbers), compare_output
    # the neural estimate of step 3, with its certified lower bound
    assert "W1 neural" in text and "interval [" in text and "certified: W1 >=" in text
    tutorial = (site / "tutorial" / "index.html").read_text(encoding="utf-8")
    assert 'alt="value and d/dtheta of every method" src="data:image/png;base64,' in tutorial


def test_getting_started_matches_readme(site: Path):
    text = _text(site / "getting-started" / "index.html")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^python3 -m venv .*$", readme, flags=re.MULTILINE)
    assert len(commands) == 2
    for command in commands:
        assert command in text
    assert "dv.wasserstein_dual(x, y, steps=300, seed=0)" in text


def _parameter_rows(page: Path, function: str) -> dict[str, tuple[str, str]]:
    """The rendered parameters (or attributes) table of ``function``: name -> (type, last
    column: the default for parameters, the description for attributes)."""
    source = page.read_text(encoding="utf-8")
    start = source.index(f'id="{function}"')
    table = source[source.index("<table", start) : source.index("</table>", start)]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.DOTALL)[1:]:
        cells = [
            html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell))).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.DOTALL)
        ]
        rows[cells[0]] = (cells[1], cells[-1])
    return rows


def test_every_parameter_shows_its_own_type_and_default(site: Path):
    # Parameters documented together ("penalty, penalty_weight, rescale") used to show
    # the first one's type and default for all of them.
    rows = _parameter_rows(
        site / "api" / "neural" / "index.html", "divergences.neural.wasserstein_dual_batch"
    )
    assert rows["penalty"] == ("str | None", "None")
    assert rows["penalty_weight"] == ("float | None", "None")
    assert rows["rescale"] == ("bool", "True")
    options = _parameter_rows(
        site / "api" / "neural" / "index.html", "divergences.neural.TrainingOptions"
    )
    assert options["seed"][0] == "int or None, default None"
    assert options["progress"][0] == "bool, default False"


def test_formulas_are_rendered_at_build_time(site: Path):
    # MathML written into the pages: no script, no network, no raw TeX left.
    for page in ("theory", "api/transport", "api/neural"):
        source = (site / page / "index.html").read_text(encoding="utf-8")
        assert "<math" in source, page
        visible = _text(site / page / "index.html")
        assert "\\(" not in visible and "\\[" not in visible and "$$" not in visible, page
    assert "mathjax" not in (site / "index.html").read_text(encoding="utf-8").lower()
