"""Where a Coq source file lives: its load-path flags, working directory and logical name.

- A file of the standard library (`coqc -where`/theories/...) runs with the default load path;
  files under `Init/` also get `-noinit` (they build the prelude themselves). Its logical
  name is `Coq.<dir>.<file>`.
- A file below a `_CoqProject` uses that project's `-Q`/`-R`/`-arg` flags from its folder.
- Any other file runs with `-Q <its folder> ""`, so its siblings are found by short name.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prover.envs.base import BackendUnavailable, EnvError


@dataclass(frozen=True)
class CoqFileContext:
    path: Path
    args: tuple[str, ...]  # load-path and other flags for coqidetop and coqc
    cwd: Path
    logical_name: str  # e.g. "Coq.Lists.List" or "My"
    mappings: tuple[tuple[Path, str], ...]  # (physical folder, logical prefix)
    is_prelude: bool  # a file every Coq session loads (Init/): never held out
    project: Path | None = None  # the _CoqProject whose flags apply, if any

    @property
    def mapping(self) -> tuple[Path, str]:
        """(folder, logical prefix) of the load-path entry that names this file."""
        return mapping_of(self.path, self.mappings) or (self.path.parent, "")

    @property
    def ide_args(self) -> tuple[str, ...]:
        """Flags for a coqidetop replaying this file: `-topfile` gives the session the
        file's own logical name, so fully qualified references inside it resolve, and its
        compiled copy cannot be loaded on top of it."""
        return (*self.args, "-topfile", str(self.path))


@functools.cache
def coqlib() -> Path:
    """The Coq installation's library folder (`coqc -where`)."""
    exe = shutil.which("coqc")
    if exe is None:
        raise BackendUnavailable(
            "coqc not found: install Coq 8.16 (`apt-get install -y coq`, or `make setup` as root)"
        )
    out = subprocess.run([exe, "-where"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def stdlib_theories() -> Path:
    return coqlib() / "theories"


def display_path(path: Path) -> str:
    """`path` as traces name files: relative to `coqlib()` for an installed library
    (`theories/Arith/PeanoNat.v`, `user-contrib/Hammer/Plugin/Hammer.v`), else as given."""
    try:
        return str(path.resolve().relative_to(coqlib()))
    except ValueError:
        return str(path)


def mapping_of(path: Path, mappings: tuple[tuple[Path, str], ...]) -> tuple[Path, str] | None:
    """The first (folder, logical prefix) of `mappings` that holds `path`, as Coq names it."""
    return next(((f, prefix) for f, prefix in mappings if path.is_relative_to(f)), None)


def logical_name(path: Path, mappings: tuple[tuple[Path, str], ...]) -> str:
    """The logical name of the library compiled from `path` under `mappings`."""
    found = mapping_of(path, mappings)
    if found is None:
        return path.stem
    folder, prefix = found
    return ".".join(p for p in (prefix, *path.with_suffix("").relative_to(folder).parts) if p)


def _find_coqproject(folder: Path) -> Path | None:
    for d in (folder, *folder.parents):
        candidate = d / "_CoqProject"
        if candidate.is_file():
            return candidate
    return None


# coqc options a project (or a caller) may pass. Anything else is refused: it could load
# code into Coq (`-I` for ML plugins, `-load-vernac-source`), or change the logic behind the
# audit's back (`-type-in-type`, `-set`/`-unset` of checking flags).
_HARMLESS_FLAGS = frozenset({"-q", "-bt", "-noinit", "-nois", "-allow-sprop", "-disallow-sprop"})
_HARMLESS_WITH_VALUE = frozenset({"-w", "-mangle-names"})
# Appended to every Coq command line: native_compute would compile and dynlink OCaml code,
# and loads a dependency's precompiled `.coq-native/*.cmxs` (a project could ship its own).
SAFETY_ARGS = ("-native-compiler", "no")
IMPREDICATIVE_SET = "-impredicative-set"
INDICES_MATTER = "-indices-matter"  # stricter universe levels: accepted, and reported


def vet_coq_args(args: Sequence[str], source: str, *, allow_impredicative_set: bool) -> None:
    """Raise `EnvError` for a coqc option Springtail will not trust (see `_HARMLESS_FLAGS`)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _HARMLESS_FLAGS or arg == INDICES_MATTER:
            i += 1
        elif arg in _HARMLESS_WITH_VALUE and i + 1 < len(args):
            i += 2
        elif arg == IMPREDICATIVE_SET:
            if not allow_impredicative_set:
                raise EnvError(
                    f"{source} asks for {IMPREDICATIVE_SET}, which changes Coq's logic: pass "
                    "--allow-impredicative-set to accept it (the verdict then says so)"
                )
            i += 1
        else:
            raise EnvError(
                f"{source} passes the coqc option {arg!r}, which Springtail does not trust "
                "(it can load code into Coq or change its logic, e.g. -I plugin folders, "
                "-type-in-type, -set/-unset): remove it to check this file"
            )


def _parse_coqproject(
    project: Path, *, allow_impredicative_set: bool
) -> tuple[tuple[str, ...], tuple[tuple[Path, str], ...]]:
    try:
        tokens = shlex.split(project.read_text(encoding="utf-8"), comments=True)
    except (ValueError, UnicodeDecodeError) as e:
        raise EnvError(f"{project}: cannot read it as a _CoqProject file ({e})") from e
    args: list[str] = []
    mappings: list[tuple[Path, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("-Q", "-R") and i + 2 < len(tokens):
            if tokens[i + 2] == "Coq" or tokens[i + 2].startswith("Coq."):
                raise EnvError(
                    f"{project} binds a folder to the standard library's name "
                    f"({tok} {tokens[i + 1]} {tokens[i + 2]}): Springtail refuses it, since the "
                    "folder could stand in for Coq's own libraries and axioms"
                )
            folder = (project.parent / tokens[i + 1]).resolve()
            args += [tok, str(folder), tokens[i + 2]]
            mappings.append((folder, tokens[i + 2]))
            i += 3
        elif tok == "-arg" and i + 1 < len(tokens):
            extra = shlex.split(tokens[i + 1])
            vet_coq_args(
                extra, f"{project} (-arg)", allow_impredicative_set=allow_impredicative_set
            )
            args += extra
            i += 2
        elif tok in ("-I", "-include"):
            raise EnvError(
                f"{project} adds an OCaml plugin folder ({' '.join(tokens[i : i + 2])}): "
                "Springtail never loads a project's own plugins into the checker; remove the "
                "line to check the file without them"
            )
        else:
            i += 1  # file names and flags meant for coq_makefile
    return tuple(args), tuple(mappings)


LIBRARY_NAME = "Springtail"  # logical name of a generated tactic library's folder
LIBRARY_FILE = "SpringtailLib.v"


def file_context(
    path: str | Path,
    extra_args: tuple[str, ...] = (),
    *,
    allow_impredicative_set: bool = False,
    library: Path | None = None,
) -> CoqFileContext:
    """Flags, folder and logical name for proving theorems of `path`; `library` is a folder
    holding a compiled `SpringtailLib.v` (Springtail's own copy), bound to `Springtail`."""
    vet_coq_args(extra_args, "coq_args", allow_impredicative_set=allow_impredicative_set)
    if library is not None:
        extra_args = ("-Q", str(library), LIBRARY_NAME, *extra_args)
    extra_maps: tuple[tuple[Path, str], ...] = ((library, LIBRARY_NAME),) if library else ()
    p = Path(path).resolve()
    theories = stdlib_theories().resolve()
    if p.is_relative_to(theories):
        is_prelude = p.relative_to(theories).parts[0] == "Init"
        args: tuple[str, ...] = ("-noinit",) if is_prelude else ()
        mappings: tuple[tuple[Path, str], ...] = ((theories, "Coq"),)
        return CoqFileContext(
            p,
            args + extra_args + SAFETY_ARGS,
            p.parent,
            logical_name(p, mappings),
            mappings + extra_maps,
            is_prelude,
            None,
        )
    project = _find_coqproject(p.parent)
    if project is not None:
        args, mappings = _parse_coqproject(project, allow_impredicative_set=allow_impredicative_set)
        cwd = project.parent
    else:
        args, mappings, cwd = ("-Q", str(p.parent), ""), ((p.parent, ""),), p.parent
    if not any(p.is_relative_to(folder) for folder, _ in mappings):
        args, mappings = (*args, "-Q", str(p.parent), ""), (*mappings, (p.parent, ""))
    own = logical_name(p, mappings)
    if own.split(".")[0] == "Coq":
        raise EnvError(
            f"{p} would be the library {own}, a name of Coq's standard library: its axioms and "
            "lemmas could pass for the standard library's; rename the file or its _CoqProject "
            "mapping"
        )
    taken = [name for _, name in mappings if name.split(".")[0] == LIBRARY_NAME]
    if library is not None and taken:  # `From Springtail ...` must mean our copy, only
        raise EnvError(
            f"{project} binds the logical name {taken[0]!r}, which a tactic library loaded "
            "with --library uses: rename it in the project, or prove without --library"
        )
    return CoqFileContext(
        p, args + extra_args + SAFETY_ARGS, cwd, own, mappings + extra_maps, False, project
    )


def loadpath_flags(args: Sequence[str]) -> tuple[str, ...]:
    """The `-Q DIR NAME` / `-R DIR NAME` triples of `args`, in order."""
    out: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in ("-Q", "-R") and i + 2 < len(args):
            out += args[i : i + 3]
            i += 3
        else:
            i += 1
    return tuple(out)


def source_of(logical: str, mappings: tuple[tuple[Path, str], ...]) -> Path | None:
    """The `.v` file of library `logical` (e.g. Coq.Logic.Classical_Prop), if found."""
    all_maps = ((stdlib_theories(), "Coq"), *mappings)
    for folder, prefix in all_maps:
        parts = logical.split(".")
        if prefix:
            if parts[: len(prefix.split("."))] != prefix.split("."):
                continue
            parts = parts[len(prefix.split(".")) :]
        candidate = folder.joinpath(*parts).with_suffix(".v")
        if candidate.is_file():
            return candidate
    return None


# Variables that tell OCaml/findlib where to load plugins from: a Coq process never gets them.
_PLUGIN_ENV = frozenset(
    {"OCAMLPATH", "OCAMLFIND_CONF", "OCAMLFIND_DESTDIR", "CAML_LD_LIBRARY_PATH", "OCAMLRUNPARAM"}
)
HAMMER_LIBEXEC = Path("/usr/libexec/coq-hammer")  # Debian's CoqHammer helpers (htimeout)


def coq_subprocess_env(tmpdir: str | None = None) -> dict[str, str]:
    """Environment for Coq processes: CoqHammer's helper folder on PATH (without it every
    cvc4 call fails), and a private TMPDIR so its prover files are cleaned up with the run."""
    env = {k: v for k, v in os.environ.items() if k not in _PLUGIN_ENV}
    if HAMMER_LIBEXEC.is_dir() and str(HAMMER_LIBEXEC) not in env.get("PATH", ""):
        env["PATH"] = f"{env.get('PATH', '')}:{HAMMER_LIBEXEC}"
    if tmpdir is not None:
        env["TMPDIR"] = tmpdir
    env["COQ_COLOR"] = "no"
    return env
