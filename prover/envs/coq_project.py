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
from dataclasses import dataclass
from pathlib import Path

from prover.envs.base import BackendUnavailable


@dataclass(frozen=True)
class CoqFileContext:
    path: Path
    args: tuple[str, ...]  # load-path and other flags for coqidetop and coqc
    cwd: Path
    logical_name: str  # e.g. "Coq.Lists.List" or "My"
    mappings: tuple[tuple[Path, str], ...]  # (physical folder, logical prefix)
    is_prelude: bool  # a file every Coq session loads (Init/): never held out

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


def _logical(path: Path, mappings: tuple[tuple[Path, str], ...]) -> str:
    for folder, prefix in mappings:
        try:
            rel = path.with_suffix("").relative_to(folder)
        except ValueError:
            continue
        parts = [p for p in (prefix, *rel.parts) if p]
        return ".".join(parts)
    return path.stem


def _find_coqproject(folder: Path) -> Path | None:
    for d in (folder, *folder.parents):
        candidate = d / "_CoqProject"
        if candidate.is_file():
            return candidate
    return None


def _parse_coqproject(project: Path) -> tuple[tuple[str, ...], tuple[tuple[Path, str], ...]]:
    tokens = shlex.split(project.read_text(), comments=True)
    args: list[str] = []
    mappings: list[tuple[Path, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("-Q", "-R") and i + 2 < len(tokens):
            folder = (project.parent / tokens[i + 1]).resolve()
            args += [tok, str(folder), tokens[i + 2]]
            mappings.append((folder, tokens[i + 2]))
            i += 3
        elif tok == "-arg" and i + 1 < len(tokens):
            args += shlex.split(tokens[i + 1])
            i += 2
        else:
            i += 1  # file names and flags meant for coq_makefile
    return tuple(args), tuple(mappings)


def file_context(path: str | Path, extra_args: tuple[str, ...] = ()) -> CoqFileContext:
    """Flags, folder and logical name for proving theorems of `path`."""
    p = Path(path).resolve()
    theories = stdlib_theories().resolve()
    if p.is_relative_to(theories):
        is_prelude = p.relative_to(theories).parts[0] == "Init"
        args: tuple[str, ...] = ("-noinit",) if is_prelude else ()
        mappings: tuple[tuple[Path, str], ...] = ((theories, "Coq"),)
        return CoqFileContext(
            p, args + extra_args, p.parent, _logical(p, mappings), mappings, is_prelude
        )
    project = _find_coqproject(p.parent)
    if project is not None:
        args, mappings = _parse_coqproject(project)
        cwd = project.parent
    else:
        args, mappings, cwd = ("-Q", str(p.parent), ""), ((p.parent, ""),), p.parent
    return CoqFileContext(p, args + extra_args, cwd, _logical(p, mappings), mappings, False)


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


HAMMER_LIBEXEC = Path("/usr/libexec/coq-hammer")  # Debian's CoqHammer helpers (htimeout)


def coq_subprocess_env(tmpdir: str | None = None) -> dict[str, str]:
    """Environment for Coq processes: CoqHammer's helper folder on PATH (without it every
    cvc4 call fails), and a private TMPDIR so its prover files are cleaned up with the run."""
    env = dict(os.environ)
    if HAMMER_LIBEXEC.is_dir() and str(HAMMER_LIBEXEC) not in env.get("PATH", ""):
        env["PATH"] = f"{env.get('PATH', '')}:{HAMMER_LIBEXEC}"
    if tmpdir is not None:
        env["TMPDIR"] = tmpdir
    env["COQ_COLOR"] = "no"
    return env
