"""A generated Coq tactic library: `SpringtailLib.v`, holding `Ltac` definitions and nothing else.

The text is checked before Coq sees it, and again whenever a library is loaded: every sentence
must be `Ltac st_<8 hex> x0 ... := <tactic>.` whose body our tactic parser reads as one tactic
expression and which names none of the words that could end, fake or widen a proof (`admit`,
`give_up`, `Admitted`, `Axiom`, `Unset`, `Declare ML Module`, `Redirect`, `Load`, `Require`,
...). Coq then compiles it (`coqc -Q LIBDIR Springtail`); a definition Coq refuses is named
with Coq's message. Proofs that use the library load it with `LIBRARY_IMPORT` and get the same
whole-file re-check and axiom audit as any other proof: the library can only save typing.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from prover.envs.base import PARAM_NAME, PROGRAM_NAME, EnvError
from prover.envs.coq_compile import coqc_failure, run_coqc
from prover.envs.coq_lex import CoqSyntaxError, source_text, strip_comments
from prover.envs.coq_ltac import LtacParseError, parse_tactic, tokenize
from prover.envs.coq_project import LIBRARY_FILE, LIBRARY_NAME, SAFETY_ARGS
from prover.envs.coq_source import split_sentences

LIBRARY_IMPORT = f"From {LIBRARY_NAME} Require Import SpringtailLib."
# The Require commands of a generated library: none. `library_problems` refuses `Require`,
# `Import`, `Load` and `Declare` in its text, and `compile_library` compiles it with the
# default prelude only, so `LIBRARY_IMPORT` loads the library itself and the prelude's
# libraries, which every Coq session loads anyway. A trace, which runs before any library
# exists, computes its held-out closure with these in place of `LIBRARY_IMPORT`.
LIBRARY_REQUIRES: tuple[str, ...] = ()
_CALL_RE = re.compile(rf"(?<![\w']){PROGRAM_NAME}(?![\w'])")
_DEFINITION_RE = re.compile(
    rf"Ltac\s+(?P<name>{PROGRAM_NAME})(?P<params>(?:\s+{PARAM_NAME})*)\s*:=\s*(?P<body>.+)\.", re.S
)
_FORBIDDEN_RE = re.compile(
    r"(?<![\w'])(admit|give_up|Admitted|Abort|Axiom|Axioms|Parameter|Conjecture|Hypothesis"
    r"|Variable|Unset|Set|Declare|Redirect|Load|Require|Import|Export|Cd|Drop|Quit|Qed"
    r"|Defined|Save|Proof|Extraction|Module|Section|End|Local|Global|Time|Timeout|Fail"
    r"|Succeed|Back|BackTo|Reset|Undo|Restart|Ltac|Tactic|Notation|Add|Remove"
    r"|Instance|Existing|Hint|Obligation|Solve|native_compute)(?![\w'])"
)


MAX_LIBRARY_BYTES = 1 << 20


def program_calls(tactic: str) -> set[str]:
    """The library programs a tactic's text names (whole words)."""
    return set(_CALL_RE.findall(tactic))


def library_problems(text: str) -> list[str]:
    """Why `text` is not a library of tactic definitions only ([] when it is)."""
    if len(text.encode("utf-8", errors="replace")) > MAX_LIBRARY_BYTES:
        return [f"larger than {MAX_LIBRARY_BYTES} bytes"]
    try:
        sentences = split_sentences(source_text(text))
    except CoqSyntaxError as e:
        return [f"cannot be read: {e}"]
    problems = []
    for s in sentences:
        code = strip_comments(s.text).strip()
        m = _DEFINITION_RE.fullmatch(code)
        where = f"line {s.line}"
        if m is None:
            problems.append(f"{where}: not an `Ltac st_<hash> x0 ... := tactic.` definition")
            continue
        body = m["body"]
        bad = _FORBIDDEN_RE.search(re.sub(r'"(?:[^"]|"")*"', '""', body))
        if bad:
            problems.append(f"{where}: {m['name']} uses {bad.group(1)!r}, never allowed")
            continue
        try:
            parse_tactic(body)
        except LtacParseError as e:
            problems.append(f"{where}: {m['name']}'s body is not one tactic ({e})")
            continue
        if _defines_more(body):
            problems.append(f"{where}: {m['name']} defines more than itself (`with ... :=`)")
    return problems


def _defines_more(body: str) -> bool:
    """Whether `:=` or `::=` stands outside brackets: `Ltac a := t with b := u` (or `::=`,
    which redefines an existing tactic such as `easy` for everyone who loads the library)."""
    depth = 0
    for token in tokenize(body):
        depth += (token.text in "([{") - (token.text in ")]}")
        if depth == 0 and token.text in (":=", "::="):
            return True
    return False


def library_args(folder: Path) -> tuple[str, ...]:
    """The Coq flags that make `LIBRARY_IMPORT` load the library in `folder`."""
    return ("-Q", str(folder), LIBRARY_NAME)


def compile_library(folder: Path, timeout_s: float = 300.0, max_memory_mb: int = 8192) -> str:
    """Compile `folder/SpringtailLib.v` with coqc after checking its text; "" on success,
    else the reason (the text's problems, or Coq's message with its line)."""
    folder = folder.resolve()  # coqc runs inside it
    source = folder / LIBRARY_FILE
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EnvError(f"{source}: cannot read the library ({e})") from e
    problems = library_problems(text)
    if problems:
        return "; ".join(problems)
    args = [*SAFETY_ARGS, *library_args(folder), str(source)]
    try:
        rc, log = run_coqc(args, folder, timeout_s, max_memory_mb)
    except FileNotFoundError as e:
        raise EnvError("coqc not found: install Coq 8.16 (`make setup`)") from e
    if rc is None:
        return f"coqc ran past {timeout_s:.0f}s"
    return coqc_failure(log, source) if rc != 0 else ""


def private_copy(folder: Path) -> Path:
    """A fresh private folder holding Springtail's own compiled copy of `folder`'s library
    (its source checked, then compiled here): what a session loads, never the `.vo` found in
    `folder`. Raises `EnvError` saying why a library is refused."""
    source = folder / LIBRARY_FILE
    if not source.is_file():
        raise EnvError(
            f"{folder} holds no {LIBRARY_FILE}: build a library with "
            f"`springtail introspect --trace DIR --out {folder}`"
        )
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EnvError(f"{source}: cannot read the library ({e})") from e
    tmp = Path(tempfile.mkdtemp(prefix="springtail-lib-"))
    try:
        (tmp / LIBRARY_FILE).write_text(source_text(text), encoding="utf-8")
        problem = compile_library(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if problem:
        shutil.rmtree(tmp, ignore_errors=True)
        raise EnvError(f"{source} is not a library Springtail accepts: {problem}")
    return tmp


def failing_line(message: str) -> int | None:
    """The line of `SpringtailLib.v` a `compile_library` message points at."""
    m = re.search(r"SpringtailLib\.v line (\d+)\)", message)
    return int(m.group(1)) if m else None
