"""MkDocs hooks: render the maths at build time, and give the tutorial's executed code
blocks a clean place to run.

Formulas (``pymdownx.arithmatex`` in generic mode wraps them in ``\\( \\)`` and
``\\[ \\]`` inside elements of class ``arithmatex``, for Markdown pages and the
docstrings alike) are converted to MathML by ``latex2mathml`` when the site is
built, so they render in any current browser with no script and no network.

The tutorial's code blocks run at build time (markdown-exec), so its examples
cannot rot. Their files (samples, the gradients figure) go to a fresh temporary
folder, named in the page as ``workdir="$TUTORIAL_DIR"`` and removed after the
build, so that building the docs writes nothing into the repository. The
``divergences`` command the shell blocks call is the one installed next to the
Python that runs MkDocs, whatever the caller's PATH says.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from latex2mathml.converter import convert

# What arithmatex (generic mode) emits: inline \( \) in a span, display \[ \] in a div.
_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">'
    r"(?P<open>\\\(|\\\[)(?P<tex>.*?)(?:\\\)|\\\])</(?P=tag)>",
    re.DOTALL,
)

_PLACEHOLDER = 'workdir="$TUTORIAL_DIR"'
_workdir: Path | None = None


def on_config(config: Any, **kwargs: Any) -> Any:
    global _workdir
    _remove_workdir()
    _workdir = Path(tempfile.mkdtemp(prefix="divergences-docs-"))
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, path]) if path else scripts
    return config


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if _workdir is None:
        raise RuntimeError("on_config has not run: no working folder for the tutorial")
    return markdown.replace(_PLACEHOLDER, f'workdir="{_workdir}"')


def on_page_content(html_text: str, **kwargs: Any) -> str:
    return _MATH.sub(_mathml, html_text)


def _mathml(match: re.Match[str]) -> str:
    """One arithmatex element as MathML; a formula the converter cannot read fails the
    build (strict), so no raw TeX reaches a page."""
    display = "block" if match["open"] == "\\[" else "inline"
    tex = html.unescape(match["tex"]).strip()
    try:
        mathml = convert(tex, display=display)
    except Exception as error:  # the converter raises several types
        raise ValueError(f"cannot render the formula {tex!r} as MathML: {error}") from error
    return f'<{match["tag"]} class="arithmatex">{mathml}</{match["tag"]}>'


def on_post_build(**kwargs: Any) -> None:
    _remove_workdir()


def on_build_error(**kwargs: Any) -> None:
    _remove_workdir()


def _remove_workdir() -> None:
    global _workdir
    if _workdir is not None:
        shutil.rmtree(_workdir, ignore_errors=True)
        _workdir = None
