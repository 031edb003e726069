"""What a list of Coq import commands loads, asked of Coq itself: their Require closure.

`import_closure(imports)` has `coqc` compile a scratch file holding the imports, one a line,
then `Print Libraries.`, in a private folder with the default load path and prelude. Coq 8.16
answers with every library loaded, the prelude's too, in load order:

    Loaded library files:
      Coq.Init.Notations
      ...
      Coq.micromega.Lia
      Hammer.Plugin.Hammer

A second scratch file loads the same imports and asks `Locate Library NAME.` of each name,
which answers `NAME has been loaded from file` and the `.vo` path on the next line. The
source beside each `.vo` is named as a trace names files (`display_path`: relative to
`coqc -where`, e.g. `theories/micromega/Lia.v`, `user-contrib/Hammer/Plugin/Hammer.v`).

Why a trace wants it: proving a theorem of a file in the closure of a policy's imports would
load that file's own compiled copy, which the env refuses (`ImportRejected`), so the episode
would run without the imports. `coq_trace` keeps such files out of every held-out split.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prover.envs.base import EnvError
from prover.envs.coq_project import SAFETY_ARGS, coq_subprocess_env, coqlib, display_path

_SCRATCH = "SpringtailClosure.v"
_LIBRARIES_HEADER = "Loaded library files:"
_LOCATED = re.compile(r"^(\S+) has been loaded from file\s+(.+?\.vo)\s*$", re.M)
_ERROR_LINE = re.compile(r'File "[^"]*", line (\d+)')


@dataclass(frozen=True)
class ImportClosure:
    """The libraries `imports` load (with the prelude), and their source files."""

    imports: tuple[str, ...]
    libraries: tuple[str, ...]  # logical names, in Coq's load order
    files: tuple[str, ...]  # their sources, as a trace's `file_path` names them

    def to_json(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in vars(self).items()}


def import_closure(
    imports: Sequence[str], coq_args: Sequence[str] = (), timeout_s: float = 120.0
) -> ImportClosure:
    """The Require closure of `imports` (Coq commands such as `From Coq Require Import
    Lia.`), as Coq reports it under `coq_args` (load-path flags); raises `EnvError` naming
    the import Coq rejects and what to install."""
    lines = tuple(" ".join(imp.split()) for imp in imports)  # one command a line
    listed = _run_coqc([*lines, "Print Libraries."], lines, coq_args, timeout_s)
    libraries = _loaded_libraries(listed)
    located = _run_coqc(
        [*lines, *(f"Locate Library {name}." for name in libraries)], lines, coq_args, timeout_s
    )
    vo_of = dict(_LOCATED.findall(located))
    missing = [name for name in libraries if name not in vo_of]
    if missing:
        raise EnvError(f"Coq did not say where it loaded {', '.join(missing[:5])} from")
    files = tuple(display_path(Path(vo_of[name]).with_suffix(".v")) for name in libraries)
    return ImportClosure(tuple(imports), libraries, files)


def _loaded_libraries(output: str) -> tuple[str, ...]:
    """The names `Print Libraries.` lists (it is the scratch file's last command)."""
    at = output.rfind(_LIBRARIES_HEADER)
    if at < 0:
        raise EnvError(f"Coq's `Print Libraries.` printed no library list: {output[-300:]!r}")
    names = tuple(line.strip() for line in output[at + len(_LIBRARIES_HEADER) :].splitlines())
    return tuple(name for name in names if name)


def _run_coqc(
    commands: Sequence[str], imports: Sequence[str], coq_args: Sequence[str], timeout_s: float
) -> str:
    """coqc's output for a scratch file of `commands` (the `imports` come first)."""
    coqlib()  # raises BackendUnavailable, saying how to install Coq, when coqc is missing
    with tempfile.TemporaryDirectory(prefix="springtail-closure-") as tmp:
        (Path(tmp) / _SCRATCH).write_text("".join(f"{c}\n" for c in commands), encoding="utf-8")
        try:
            out = subprocess.run(
                ["coqc", "-q", *coq_args, *SAFETY_ARGS, _SCRATCH],
                cwd=tmp,
                env=coq_subprocess_env(tmp),
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as e:
            raise EnvError(f"coqc ran past {timeout_s:.0f}s loading {list(imports)}") from e
    if out.returncode != 0:
        raise EnvError(_rejected(out.stdout + out.stderr, imports))
    return out.stdout


def _rejected(log: str, imports: Sequence[str]) -> str:
    """One line: which import Coq rejects, Coq's error, and what to install."""
    error = " ".join(log[log.rfind("Error:") :].split())[:300] if "Error:" in log else log[-300:]
    lines = [int(n) for n in _ERROR_LINE.findall(log)]
    if not lines or not 1 <= lines[-1] <= len(imports):
        return f"Coq rejects the imports {list(imports)}: {error}"
    imp = imports[lines[-1] - 1]
    hint = (
        "install CoqHammer (`apt-get install -y libcoq-hammer eprover z3 cvc4`, or `make setup` "
        "as root)"
        if "Hammer" in imp
        else "install the Coq package that provides it"
    )
    return f"Coq rejects the import {imp!r} ({error}): {hint}, or leave it out of the imports"
