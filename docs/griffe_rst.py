"""Griffe extension: the reStructuredText in our numpydoc docstrings, as Markdown.

The docstrings are written for numpydoc (``.. math::`` blocks, ``:math:`` and
``:func:`` roles, ``[1]_`` citations), which mkdocstrings' numpy parser reads as
plain Markdown. Rewriting those few constructs before parsing lets the same
docstrings render with MathJax (pymdownx.arithmatex, generic mode) instead of
showing the raw directives. A role naming an object of the package becomes a
cross-reference to its entry in the API reference; other names (torch, numpy)
stay inline code.
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


def _resolve(name: str, context: griffe.Object) -> str | None:
    """The canonical path of the package object ``name`` means in ``context``, if any."""
    name = name.lstrip(".")
    first, _, rest = name.partition(".")
    scopes: list[griffe.Object] = []
    scope: griffe.Object | None = context
    while scope is not None:  # the object itself, its class, its module, ..., the package
        scopes.append(scope)
        scope = scope.parent
    for scope in scopes:
        if scope.name == first and scope.parent is None:
            target: Any = scope
        elif first in scope.members:
            target = scope.members[first]
        else:
            continue
        try:
            for part in filter(None, rest.split(".")):
                target = target.members[part]
            target = target.final_target if target.is_alias else target
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
        # Only what the reference shows: public objects of this package with a docstring
        # (mkdocstrings leaves out the others, and a link to them would fail the build).
        in_package = target.path.split(".")[0] == scopes[-1].name
        shown = target.docstring is not None and not target.name.startswith("_")
        return target.path if in_package and shown else None
    return None


def _code_role(match: re.Match[str], context: griffe.Object | None) -> str:
    name = match.group("name")
    code = f"`{name}()`" if match.group(0).startswith((":func:", ":meth:")) else f"`{name}`"
    target = _resolve(name, context) if context is not None else None
    return f"[{code}][{target}]" if target else code


_SECTION = re.compile(r"^(?P<indent>[ ]*)(?P<title>[A-Z][A-Za-z ]+)\n(?P=indent)-{3,}[ ]*$", re.M)


def _split_parameter_groups(text: str) -> str:
    """One entry per name in the Parameters sections: "a, b : type" (or "a, b") becomes
    "a : type" and "b : type" with the description repeated, so that each parameter
    shows its own annotation and default from the signature (griffe gives a group the
    first name's)."""
    lines = text.split("\n")
    out: list[str] = []
    in_parameters, indent = False, ""
    index = 0
    while index < len(lines):
        line = lines[index]
        header = _SECTION.match("\n".join(lines[index : index + 2]))
        if header:
            in_parameters = header["title"].strip() in ("Parameters", "Other Parameters")
            indent = header["indent"]
            out += lines[index : index + 2]
            index += 2
            continue
        names, _, kind = line.strip().partition(" : ")
        is_entry = (
            in_parameters
            and line.startswith(indent)
            and line[len(indent) : len(indent) + 1] not in (" ", "")
        )
        if is_entry and "," in names and not names.startswith("*"):
            body = []
            index += 1
            while index < len(lines) and (
                not lines[index].strip() or lines[index].startswith(indent + " ")
            ):
                body.append(lines[index])
                index += 1
            for name in (part.strip() for part in names.split(",")):
                out.append(f"{indent}{name} : {kind}" if kind else f"{indent}{name}")
                out += body
            continue
        out.append(line)
        index += 1
    return "\n".join(out)


def rst_to_markdown(text: str, context: griffe.Object | None = None) -> str:
    """Rewrite the reStructuredText constructs our docstrings use as Markdown.

    ``context`` is the object the docstring belongs to: names in roles are
    looked up from it, as Sphinx would, to link them.
    """
    if not text.endswith("\n"):
        text += "\n"
    text = _split_parameter_groups(text)
    text = _MATH_BLOCK.sub(_math_block, text)
    text = _MATH_ROLE.sub(lambda match: f"${match.group('tex').strip()}$", text)
    text = _CODE_ROLE.sub(lambda match: _code_role(match, context), text)
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
            obj.docstring.value = rst_to_markdown(obj.docstring.value, obj)
        for member in obj.members.values():
            if not member.is_alias:
                self._rewrite(member, seen)
