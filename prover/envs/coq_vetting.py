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
The text is searched twice: as it stands, and with every comment replaced by a space (Coq's
lexer treats a comment as a blank, so `Declare (* x *) ML Module` is the command); a match in
either is refused (one inside a comment or a string costs a false refusal at worst, never a
missed command). This covers the file, every file it `Load`s (found as Coq finds them, in the
load path's folders and their subfolders; a `Load` that cannot be followed is refused), and
the sources of the project libraries it needs (found with Coq's `coqdep`).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from prover.envs.base import EnvError
from prover.envs.coq_lex import CoqSyntaxError, skip_blank, skip_string, strip_comments
from prover.envs.coq_project import coq_subprocess_env, coqlib, loadpath_flags

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
_LOAD_RE = re.compile(r"(?<![\w'.])Load\b\s*(?:Verbose\b\s*)?")


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


def _views(text: str) -> list[str]:
    """The text, and the text with comments blanked (when it lexes)."""
    try:
        return [text, strip_comments(text)]
    except CoqSyntaxError:
        return [text]


def text_problems(text: str, views: list[str] | None = None) -> list[str]:
    """What in `text` could make Coq load native code (see module docstring); `views`:
    `_views(text)` if already made."""
    views = views or _views(text)
    return list(dict.fromkeys(p for view in views for p in _view_problems(view)))


def _view_problems(text: str) -> list[str]:
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


def load_targets(text: str, dirs: Sequence[Path], views: list[str] | None = None) -> list[Path]:
    """The files `Load` commands in `text` name, as Coq finds them: an absolute path as
    given, a relative one in `dirs` (the load path's folders and their subfolders). A `Load`
    that cannot be followed (a name with `$`, a file not found) is refused with EnvError."""
    if "Load" not in text:
        return []
    out = []
    views = views or _views(text)
    for k, view in enumerate(views):
        must_find = k == 1  # with comments blanked, every `Load` left is a command
        for m in _LOAD_RE.finditer(view):
            name = _load_name(view, m.end())
            if name is None:
                continue
            target = Path(name if name.endswith(".v") else name + ".v")
            candidates = [target] if target.is_absolute() else [d / target for d in dirs]
            found = [c for c in candidates if c.is_file()]
            if must_find and not found:
                raise EnvError(
                    f"cannot follow `Load {name}`: Springtail finds no such file to vet in the "
                    "load path's folders"
                )
            out += found
    return out


def _load_name(text: str, i: int) -> str | None:
    strings = _strings_after(text, i)
    if strings:
        name = strings[0]
    else:
        try:
            word = re.compile(r"[A-Za-z_][\w'.]*").match(text, skip_blank(text, i))
        except CoqSyntaxError:
            return None
        if word is None:
            return None
        name = word.group().rstrip(".")  # the sentence's own end
    if "$" in name:
        raise EnvError(f"cannot follow `Load {name}` (an environment variable): remove it")
    return name


def vet_sources(path: Path, args: tuple[str, ...], folders: tuple[Path, ...]) -> list[Path]:
    """Refuse (EnvError) `path` when it, a file it Loads, or the source of a project library
    it Requires could load native code. Returns the project libraries' sources that `path`
    Requires, directly or not, dependencies first (Springtail compiles them itself: the
    compiled files lying next to them are never loaded)."""
    system = coqlib().resolve()
    dirs = _LoadDirs(folders)
    scanned: set[Path] = set()
    required: list[Path] = []

    def visit(source: Path, *, is_library: bool) -> None:
        if source in scanned or source.is_relative_to(system):
            return
        scanned.add(source)
        text = _read(source)
        views = _views(text)
        problems = text_problems(text, views)
        if problems:
            raise EnvError(
                f"{source} {'; '.join(problems)}: Springtail refuses sources that could load "
                "native code into the checker"
            )
        for target in load_targets(text, dirs.get(), views) if "Load" in text else []:
            visit(target.resolve(), is_library=False)
        for dep in _dependencies(source, args):
            visit(dep.resolve(), is_library=True)
        if is_library:
            required.append(source)

    visit(path.resolve(), is_library=False)
    return required


class _LoadDirs:
    """The load path's folders and all their subfolders, listed once and only if needed."""

    def __init__(self, folders: tuple[Path, ...]) -> None:
        self._folders = folders
        self._dirs: list[Path] | None = None

    def get(self) -> list[Path]:
        if self._dirs is None:
            self._dirs = [
                d
                for f in self._folders
                if f.is_dir()
                for d in (f, *(p for p in f.rglob("*") if p.is_dir()))
            ]
        return self._dirs


def _read(source: Path) -> str:
    """The text Coq would read (a byte-order mark dropped; bytes that are not UTF-8, which
    Coq accepts inside strings, replaced: only keywords are looked for)."""
    try:
        raw = source.read_bytes()
    except OSError as e:
        raise EnvError(f"{source}: cannot read it ({e.strerror or e})") from e
    return raw.decode("utf-8-sig", errors="replace")


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
