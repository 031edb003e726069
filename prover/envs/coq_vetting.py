"""Refuse Coq sources that could run native code inside Springtail's Coq processes.

Coq 8.16 loads OCaml plugins from files: `Declare ML Module "file:lib"` looks `file.cmxs` up
in the ML load path (which holds the current folder, changed by `Cd`, and folders added by
`Add ML Path`) and loads a path given outright (`"/dir/evil:x"`). Native code inside `coqc`
could write the compiled library it likes, so the audit would check something other than the
file. Springtail therefore runs Coq with a private working folder, `-native-compiler no`, no
`-I`, no `OCAMLPATH`, and refuses, before anything is compiled, a source that:
- changes the working folder (`Cd "..."`) or the ML load path (`Add [Rec] ML Path`);
- declares an ML module other than Coq's own plugins (`ltac_plugin:coq-core.plugins.ltac`)
  or a findlib package installed on the system (`coq-hammer.plugin`; found only through the
  system's findlib configuration).
The text is searched as it stands, comments included (a match inside a comment is refused
too: it costs a false refusal at worst, never a missed command), in the file, the files it
`Load`s, and the sources of the project libraries it needs (found with Coq's `coqdep`).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from prover.envs.base import EnvError
from prover.envs.coq_project import coq_subprocess_env, coqlib, loadpath_flags
from prover.envs.coq_source import CoqSyntaxError, skip_blank, skip_string

CORE_PLUGIN_FILES = frozenset(
    {
        "btauto_plugin",
        "cc_plugin",
        "derive_plugin",
        "extraction_plugin",
        "firstorder_plugin",
        "funind_plugin",
        "ltac2_plugin",
        "ltac_plugin",
        "micromega_plugin",
        "nsatz_plugin",
        "number_string_notation_plugin",
        "ring_plugin",
        "rtauto_plugin",
        "ssreflect_plugin",
        "ssrmatching_plugin",
        "tauto_plugin",
        "zify_plugin",
        "float_syntax_plugin",
        "string_notation_plugin",
    }
)
_FINDLIB_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*")
_CD_RE = re.compile(r"(?<![\w'.])Cd\s*\"")
_ML_PATH_RE = re.compile(r"(?<![\w'.])Add\s+(?:Rec\s+)?ML\s+Path\b")
_DECLARE_ML_RE = re.compile(r"(?<![\w'.])Declare\s+ML\s+Module\b")
_LOAD_RE = re.compile(r"(?<![\w'.])Load\s+(?:Verbose\s+)?")


def plugin_problem(spec: str) -> str:
    """Why `Declare ML Module "spec"` may not run in a checker, or ''."""
    file, colon, lib = spec.partition(":")
    if colon:
        if file in CORE_PLUGIN_FILES and lib.startswith("coq-core.plugins."):
            return ""
        return f"declares the OCaml plugin {spec!r}, which is not one of Coq's own"
    if _FINDLIB_RE.fullmatch(spec):
        return ""  # a findlib package: resolved only from the system's findlib folders
    return f"declares the OCaml plugin {spec!r} by file name"


def _strings_after(text: str, i: int) -> list[str] | None:
    """The string literals following offset `i` (blanks and comments skipped), or None if
    the text there is not a string."""
    out: list[str] = []
    try:
        while True:
            i = skip_blank(text, i)
            if not text.startswith('"', i):
                return out or None
            j = skip_string(text, i)
            out.append(text[i + 1 : j - 1].replace('""', '"'))
            i = j
    except CoqSyntaxError:
        return None


def text_problems(text: str) -> list[str]:
    """What in `text` could make Coq load native code (see module docstring)."""
    problems = []
    if _CD_RE.search(text):
        problems.append("changes Coq's working folder (Cd)")
    if _ML_PATH_RE.search(text):
        problems.append("adds an OCaml plugin folder (Add ML Path)")
    for m in _DECLARE_ML_RE.finditer(text):
        specs = _strings_after(text, m.end())
        if specs is None:
            problems.append("has a Declare ML Module Springtail cannot read")
            continue
        problems += [p for p in map(plugin_problem, specs) if p]
    return problems


def load_targets(text: str, folders: Iterable[Path]) -> list[Path]:
    """The files `Load` commands in `text` name, as Coq finds them: an explicit path as
    given, a bare name in the load path's folders. A name with `$` cannot be followed."""
    out = []
    for m in _LOAD_RE.finditer(text):
        strings = _strings_after(text, m.end())
        if strings:
            name = strings[0]
        else:
            word = re.compile(r"[\w'.]+").match(text, m.end())
            if word is None:
                continue
            name = word.group()
        if "$" in name:
            raise EnvError(f"cannot follow `Load {name}` (an environment variable): remove it")
        target = Path(name if name.endswith(".v") else name + ".v")
        candidates = [target] if target.is_absolute() else [f / target for f in folders]
        out += [c for c in candidates if c.is_file()][:1]
    return out


def vet_sources(path: Path, args: tuple[str, ...], folders: tuple[Path, ...]) -> set[Path]:
    """Refuse (EnvError) `path` when it, a file it Loads, or the source of a project library
    it needs could load native code; returns the compiled libraries (.vo) of the vetted
    project sources."""
    system = coqlib().resolve()
    seen: set[Path] = set()
    todo = [path.resolve()]
    vetted_vo: set[Path] = set()
    while todo:
        source = todo.pop()
        if source in seen or source.is_relative_to(system):
            continue
        seen.add(source)
        try:
            text = source.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise EnvError(f"{source}: cannot read it ({e})") from e
        problems = text_problems(text)
        if problems:
            raise EnvError(
                f"{source} {'; '.join(problems)}: Springtail refuses sources that could load "
                "native code into the checker"
            )
        vetted_vo.add(source.with_suffix(".vo"))
        todo += [t.resolve() for t in load_targets(text, folders)]
        todo += [d.resolve() for d in _dependencies(source, args)]
    return vetted_vo


def _dependencies(source: Path, args: tuple[str, ...]) -> list[Path]:
    """The project sources `source` Requires, as `coqdep` (Coq's own dependency reader)
    finds them."""
    proc = subprocess.run(
        ["coqdep", *loadpath_flags(args), str(source)],
        capture_output=True,
        text=True,
        errors="replace",
        env=coq_subprocess_env(),
        cwd=source.parent,
    )
    deps = []
    for line in proc.stdout.splitlines():
        head, _, tail = line.partition(":")
        if ".required_vo" not in head:
            continue
        for tok in tail.split():
            if tok.endswith(".vo"):
                p = Path(tok)
                deps.append((p if p.is_absolute() else source.parent / p).with_suffix(".v"))
    return [d for d in deps if d.is_file()]
