"""Compiling for a check: `coqc` on the user's file or on a check file, into a private
folder, after the project libraries it needs (compiled by Springtail from their vetted
sources, so that no compiled file Springtail did not make is ever loaded), and coqc's
failures turned into messages about the user's files."""

from __future__ import annotations

import re
import secrets
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prover.envs.base import DependencyNotBuilt
from prover.envs.coq_project import (
    IMPREDICATIVE_SET,
    coq_subprocess_env,
    loadpath_flags,
    logical_name,
    mapping_of,
    source_of,
)
from prover.envs.coq_source import CoqDocument
from prover.envs.process import kill_group, spawn

CHECK_LIBRARY = "SpringtailCheck"


@dataclass(frozen=True)
class CheckOptions:
    allowed_axioms: tuple[str, ...] = ()  # Coq qualified identifiers, matched by kernel name
    allow_impredicative_set: bool = False
    timeout_s: float = 600.0  # for each of coqc, the audit and coqchk
    max_memory_mb: int = 8192


@dataclass(frozen=True)
class Library:
    """A library `coqc` compiled into a private folder."""

    name: str
    vo: Path
    loadpath: tuple[str, ...]  # -Q/-R flags that find it (ours last) and its dependencies
    cwd: Path
    glob: Path | None = None  # coqc's glob file (declaration kinds), under a random name


_LOG_TAIL_BYTES = 64 * 1024  # coqc's messages kept: its last error is all we report


def run_coqc(
    args: Sequence[str], cwd: Path, timeout_s: float, max_memory_mb: int
) -> tuple[int | None, str]:
    """Run coqc in its own process group, killed afterwards (CoqHammer's provers detach).
    Its output goes to a file, of which only the tail is read: the checked code decides how
    much it prints, and in which encoding."""
    with tempfile.TemporaryFile() as log:
        proc = spawn(
            ["coqc", "-q", *args],
            cwd=cwd,
            env=coq_subprocess_env(str(cwd)),
            max_memory_mb=max_memory_mb,
            stdout=log,
        )
        try:
            rc: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            kill_group(proc)
        size = log.seek(0, 2)
        log.seek(max(0, size - _LOG_TAIL_BYTES))
        return rc, log.read().decode("utf-8", errors="replace")


def coqc_failure(
    log: str, source: Path, compiled: Path | None = None, line_of: dict[int, int] | None = None
) -> str:
    """coqc's last error and where it is: in `source`, the user's file (coqc compiled
    `compiled`, a check file whose lines `line_of` maps back to `source`, or `source` itself),
    or in another file Coq names (a Loaded file)."""
    idx = log.rfind("Error:")
    text = " ".join((log[idx:] if idx >= 0 else log[-400:]).split())[:600]
    places = re.findall(r'File "([^"]*)", line (\d+)', log)
    if not places:
        return text
    file, line = Path(places[-1][0]), int(places[-1][1])
    if _same_file(file, compiled or source):
        if line_of is None:
            return f"{text} ({source} line {line})"
        if line in line_of:
            return f"{text} (line {line_of[line]} of {source})"
        return f"{text} (in the proof being checked)"
    return f"{text} ({file} line {line})"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def missing_dependency(log: str, doc: CoqDocument) -> str | None:
    """A user-facing message when coqc failed because a dependency is not compiled."""
    m = re.search(
        r"Cannot find a physical path bound to logical path\s+(\S+?)"
        r"(?:\s+with prefix\s+(\S+?))?\.\s",
        log + " ",
    )
    if m:
        lib = f"{m[2]}.{m[1]}" if m[2] else m[1]
        source = source_of(lib, doc.ctx.mappings)
        if source is not None:
            return (
                f"{doc.ctx.path}: it needs {lib} ({source}), which is not compiled: build the "
                f"dependencies first (e.g. `make`, or `{_coqc_command(doc, source)}`)"
            )
    m = re.search(r"Compiled library (\S+) .*?makes inconsistent assumptions", log, re.S)
    if m:
        return (
            f"{doc.ctx.path}: the compiled {m[1]} is out of date with its dependencies: "
            "rebuild the project (e.g. `make`) and check again"
        )
    return None


def _coqc_command(doc: CoqDocument, source: Path) -> str:
    """How the user would compile `source`, from the project's folder."""

    def rel(p: str | Path) -> str:
        path = Path(p)
        return (
            str(path.relative_to(doc.ctx.cwd)) or "."
            if path.is_relative_to(doc.ctx.cwd)
            else str(path)
        )

    flags = list(loadpath_flags(doc.ctx.args))
    shown = [rel(a) if k % 3 == 1 else (a or '""') for k, a in enumerate(flags)]
    return " ".join(["coqc", *shown, rel(source)])


def compile_in_place(doc: CoqDocument, tmp: Path, opts: CheckOptions) -> Library | str:
    """Compile the user's file under its own logical name into `tmp` (after the project
    libraries it needs, see `compile_dependencies`); the library, or why coqc refused it."""
    ours = compile_dependencies(doc, tmp, opts)
    folder, prefix = doc.ctx.mapping
    vo = _our_root(doc, tmp, folder) / doc.ctx.path.relative_to(folder).with_suffix(".vo")
    vo.parent.mkdir(parents=True, exist_ok=True)
    glob = tmp / f"{secrets.token_hex(8)}.glob"
    args = [*doc.ctx.args, *ours, "-o", str(vo), "-dump-glob", str(glob), str(doc.ctx.path)]
    rc, log = run_coqc(args, work_dir(tmp), opts.timeout_s, opts.max_memory_mb)
    if rc is None:
        return f"coqc ran past {opts.timeout_s:.0f} s"
    if rc != 0:
        missing = missing_dependency(log, doc)
        if missing:
            raise DependencyNotBuilt(missing)
        return f"coqc rejected the file: {coqc_failure(log, doc.ctx.path)}"
    return Library(
        doc.ctx.logical_name, vo, (*reader_flags(doc.ctx.args), *ours), work_dir(tmp), glob
    )


def compile_dependencies(doc: CoqDocument, tmp: Path, opts: CheckOptions) -> tuple[str, ...]:
    """Compile the project libraries `doc` Requires from their (vetted) sources into `tmp`,
    so that no compiled file Springtail did not make is ever loaded (a `.vo` can declare an
    OCaml plugin). Each must also be built by the user (DependencyNotBuilt otherwise: the
    issue is theirs to fix first). Returns the `-Q` flags that make Coq take these copies
    (they come after the project's own)."""
    flags = tuple(
        a
        for folder, prefix in doc.ctx.mappings
        for a in ("-Q", str(_our_root(doc, tmp, folder)), prefix)
    )
    for source in doc.required:
        folder, _ = _mapping_of(doc, source)
        built = source.with_suffix(".vo")
        if not built.is_file() or built.stat().st_mtime < source.stat().st_mtime:
            raise DependencyNotBuilt(_build_first(doc, source))
        vo = _our_root(doc, tmp, folder) / source.relative_to(folder).with_suffix(".vo")
        vo.parent.mkdir(parents=True, exist_ok=True)
        args = [*doc.ctx.args, *flags, "-o", str(vo), str(source)]
        rc, log = run_coqc(args, work_dir(tmp), opts.timeout_s, opts.max_memory_mb)
        if rc != 0:
            why = "ran too long" if rc is None else coqc_failure(log, source)
            raise DependencyNotBuilt(
                f"{source}, which {doc.ctx.path} needs, does not compile: {why}"
            )
    return flags


def _our_root(doc: CoqDocument, tmp: Path, folder: Path) -> Path:
    """Where Springtail compiles the libraries of the load-path entry `folder`."""
    k = [f for f, _ in doc.ctx.mappings].index(folder)
    return tmp / "lib" / str(k)


def work_dir(tmp: Path) -> Path:
    """Coq's working folder: caches and files written by relative path land here."""
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    return work


def _mapping_of(doc: CoqDocument, source: Path) -> tuple[Path, str]:
    found = mapping_of(source, doc.ctx.mappings)
    if found is None:
        raise DependencyNotBuilt(f"{source} is outside {doc.ctx.path}'s load path")
    return found


def _build_first(doc: CoqDocument, source: Path) -> str:
    lib = logical_name(source.resolve(), doc.ctx.mappings)
    return (
        f"{doc.ctx.path} needs {lib} ({source}), which is not compiled (or changed since): "
        f"build the dependencies first (e.g. `make`, or `{_coqc_command(doc, source)}`)"
    )


def reader_flags(args: Sequence[str]) -> tuple[str, ...]:
    """What a reader of a library compiled with `args` needs: the load path, and the
    options that change the logic."""
    logic = ("-noinit", IMPREDICATIVE_SET, "-indices-matter")
    return (*loadpath_flags(args), *(a for a in args if a in logic))
