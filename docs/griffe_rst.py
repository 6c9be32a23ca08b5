"""Griffe extension: the reStructuredText in our numpydoc docstrings, as Markdown.

The docstrings are written for numpydoc (``.. math::`` blocks, ``:math:`` and
``:func:`` roles, ``[1]_`` citations), which mkdocstrings' numpy parser reads as
plain Markdown. Rewriting those few constructs before parsing lets the same
docstrings render with MathJax (pymdownx.arithmatex, generic mode) instead of
showing the raw directives.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

# A ".. math::" line, then its body: blank lines or lines indented deeper than it.
_MATH_BLOCK = re.compile(
    r"^(?P<indent>[ ]*)\.\. math::[ ]*\n(?P<body>(?:(?P=indent)[ ]+\S.*\n|[ ]*\n)*)",
    re.MULTILINE,
)
_MATH_ROLE = re.compile(r":math:`(?P<tex>[^`]+)`")
_CODE_ROLE = re.compile(r":(?:func|meth|class|mod|data|attr|obj|exc):`~?(?P<name>[^`]+)`")
_CITATION = re.compile(r"\[(?P<label>\w+)\]_")


def _math_block(match: re.Match[str]) -> str:
    indent = match.group("indent")
    body = textwrap.dedent(match.group("body")).strip("\n")
    tex = textwrap.indent(body, indent)
    return f"{indent}$$\n{tex}\n{indent}$$\n\n"


def _code_role(match: re.Match[str]) -> str:
    name = match.group("name")
    return f"`{name}()`" if match.group(0).startswith((":func:", ":meth:")) else f"`{name}`"


def rst_to_markdown(text: str) -> str:
    """Rewrite the reStructuredText constructs our docstrings use as Markdown."""
    if not text.endswith("\n"):
        text += "\n"
    text = _MATH_BLOCK.sub(_math_block, text)
    text = _MATH_ROLE.sub(lambda match: f"${match.group('tex').strip()}$", text)
    text = _CODE_ROLE.sub(_code_role, text)
    text = _CITATION.sub(lambda match: f"[{match.group('label')}]", text)
    # ".. [1] Author, title" in References sections: a plain "[1] Author, title".
    text = re.sub(r"^([ ]*)\.\. \[(\w+)\]", r"\1[\2]", text, flags=re.MULTILINE)
    return text.rstrip("\n")


class RestructuredTextToMarkdown(griffe.Extension):
    """Rewrite every docstring of the loaded package before mkdocstrings parses it."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._rewrite(pkg, seen=set())

    def _rewrite(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._rewrite(member, seen)
