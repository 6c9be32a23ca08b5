"""MkDocs hooks: give the tutorial's executed code blocks a clean place to run.

The tutorial's code blocks run at build time (markdown-exec), so its examples
cannot rot. Their files (samples, the gradients figure) go to a fresh temporary
folder, named in the page as ``workdir="$TUTORIAL_DIR"`` and removed after the
build, so that building the docs writes nothing into the repository. The
``divergences`` command the shell blocks call is the one installed next to the
Python that runs MkDocs, whatever the caller's PATH says.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

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


def on_post_build(**kwargs: Any) -> None:
    _remove_workdir()


def on_build_error(**kwargs: Any) -> None:
    _remove_workdir()


def _remove_workdir() -> None:
    global _workdir
    if _workdir is not None:
        shutil.rmtree(_workdir, ignore_errors=True)
        _workdir = None
