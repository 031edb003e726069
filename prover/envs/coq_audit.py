"""The axiom audit: a Coq process whose whole input Springtail writes, and `coqchk`.

After `coqc` has compiled the checked code into a library, a fresh `coqidetop` (no coqrc)
loads it with `Require` (never `Import`: none of the library's notations, scopes or tactics
are active; `Printing All` is set again after it, in case its `Global` options changed it),
and asks `Print Assumptions` about each theorem by its fully qualified name. Every answer
arrives as its own XML reply, so nothing the checked code printed while it was compiled can
be mistaken for it, and nothing is read from a file.

Reading an answer. Coq prints one entry per assumption, each starting at column 0 with the
assumption's name; continuation lines (long types) are indented. The checked code cannot
remove a real entry, only, at worst, add fake lines through the types it writes (and with
`Printing All` no notation or string literal is printed). So every column-0 line that is not
one of Coq's fixed headers is taken as an entry, and its name is resolved by asking Coq again
(`Locate`): a fake line can only add names, which then fail the audit, never hide one.

Classifying an assumption is Coq's answer too: the kernel path from `Locate` says whether it
is a field of a functor parameter Springtail declared itself (`Declare Module` with a fresh
name, to reach theorems inside functors and module types), and `Search is:Axiom` /
`is:Conjecture` say whether a constant was declared as an axiom or admitted.

`coqchk` then re-checks the compiled library with Coq's independent checker and lists the
axioms of the whole environment by kernel name; the verdict needs both to agree.
"""

from __future__ import annotations

import enum
import re
import secrets
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prover.envs.base import QUALID_RE
from prover.envs.coq_project import coq_subprocess_env
from prover.envs.coq_xml import CoqDied, CoqFail, CoqProcess, CoqTimeout
from prover.envs.process import kill_group, spawn

_HEADERS = frozenset(
    {"Axioms:", "Section Variables:", "Opaque constants:", "Transparent constants:", "Theory:"}
)
CLOSED = "Closed under the global context"
IMPREDICATIVE_SET_LINE = "Set is impredicative"
TYPE_IN_TYPE = "Type hierarchy is collapsed (logic is inconsistent)"
_UNSAFE_SUFFIXES = (
    " is assumed to be guarded.",
    " is assumed to be positive.",
    " relies on an unsafe hierarchy.",
    " relies on definitional UIP.",
)
_NOTICE_RE = re.compile(r"^Fetching opaque proofs from disk for \S+$")
AXIOM_KINDS = ("Axiom", "Parameter", "Context")  # declared assumptions: allowable by name


class AuditError(Exception):
    """The audit could not be carried out; the message says why (the verdict is a rejection)."""


class UnknownName(AuditError):
    """Coq knows no constant by the name asked about (e.g. one hidden in a sealed module)."""


class Kind(enum.Enum):
    AXIOM = "axiom"  # a declared Axiom/Parameter/Hypothesis outside a section
    ADMITTED = "admitted"  # Admitted, Conjecture, an admitted obligation
    NO_BODY = "constant without a proof"  # e.g. an admitted lemma inside a functor body
    PARAMETER = "functor parameter"  # a field of a module Springtail declared
    UNSAFE = "unsafe"  # guard, positivity or universe checking off; definitional UIP
    THEORY = "theory"  # impredicative Set, collapsed type hierarchy


@dataclass(frozen=True)
class Assumption:
    name: str  # a kernel path (axioms, parameters) or Coq's own line (unsafe, theory)
    kind: Kind


@dataclass(frozen=True)
class Entry:
    """One column-0 line of a `Print Assumptions` answer."""

    name: str
    line: str


def parse_entries(text: str) -> tuple[list[Entry], list[str]]:
    """Entries and theory lines of a `Print Assumptions` answer (see module docstring)."""
    entries: list[Entry] = []
    theory: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line[0].isspace() or _NOTICE_RE.match(line):
            continue
        if line in _HEADERS or line == CLOSED:
            continue
        if line in (IMPREDICATIVE_SET_LINE, TYPE_IN_TYPE):
            theory.append(line)
            continue
        entries.append(Entry(line.split()[0], line))
    return entries, theory


def parse_locate(text: str) -> list[str]:
    """Kernel paths of the constants a `Locate` answer names."""
    return [m.group(1) for m in re.finditer(r"^Constant (\S+)", text, re.M)]


@dataclass
class AuditSession:
    """One coqidetop that loads compiled libraries and answers questions about them."""

    args: Sequence[str]
    cwd: Path
    timeout_s: float = 600.0
    max_memory_mb: int = 8192
    nonce: str = field(default_factory=lambda: secrets.token_hex(6))

    def __post_init__(self) -> None:
        try:
            self._proc = CoqProcess(self.args, cwd=str(self.cwd), max_memory_mb=self.max_memory_mb)
        except (CoqDied, CoqTimeout) as e:
            raise AuditError(f"the audit's Coq process did not start: {e}") from e
        self._sid = self._proc.root_state
        self._libs: set[str] | None = None
        self._located: dict[str, list[str]] = {}
        self._kinds: dict[str, dict[str, Kind]] = {}  # library -> kernel path -> kind
        self._conj: dict[str, frozenset[str]] = {}  # declared module -> its admitted fields
        self._modules = 0
        self.params: set[str] = set()  # our declared parameter modules (kernel paths)
        try:
            # Search hides these names by default; the audit must see every constant.
            self.run('Remove Search Blacklist "Private_" "_subproof" "_subterm".')
            self.run("Set Printing All.")
        except AuditError:
            self.close()
            raise

    # --- commands ------------------------------------------------------------------------

    def run(self, sentence: str) -> None:
        """Execute a command; AuditError if Coq refuses it."""
        try:
            sid = self._proc.add(sentence, self._sid)
            goals = sid if isinstance(sid, CoqFail) else self._proc.goals(self.timeout_s)
        except (CoqDied, CoqTimeout) as e:
            raise AuditError(f"the audit's Coq process failed on {sentence!r}: {e}") from e
        if isinstance(goals, CoqFail):
            if not isinstance(sid, CoqFail):
                self._proc.edit_at(self._sid)
            raise AuditError(f"Coq refused {sentence!r}: {goals.message}")
        assert isinstance(sid, int)
        self._sid = sid

    def query(self, sentence: str) -> str:
        """What Coq prints for the query `sentence`, one XML reply of its own."""
        try:
            out = self._proc.query(sentence, self._sid, deadline_s=self.timeout_s)
        except (CoqDied, CoqTimeout) as e:
            raise AuditError(f"the audit's Coq process failed on {sentence!r}: {e}") from e
        if isinstance(out, CoqFail):
            error = (
                UnknownName
                if "was not found in the current environment" in out.message
                else AuditError
            )
            raise error(f"Coq refused {sentence!r}: {out.message}")
        return out

    def close(self) -> None:
        self._proc.close()

    def __enter__(self) -> AuditSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- libraries -----------------------------------------------------------------------

    def require(self, library: str, vo_file: Path) -> None:
        """Load `library` and make sure Coq took it from `vo_file` (the one we compiled)."""
        self.run(f"Require {library}.")
        self.run("Set Printing All.")  # a library's Global options may have changed it
        where = self.query(f"Locate Library {library}.")
        expected = f"{library} has been loaded from file {vo_file}"
        if " ".join(where.split()) != " ".join(expected.split()):  # Coq may wrap the line
            raise AuditError(f"Coq loaded {library} from elsewhere: {where.strip()!r}")

    def libraries(self) -> list[str]:
        """Every library loaded in this session (`Print Libraries`)."""
        text = self.query("Print Libraries.")
        return [ln.strip() for ln in text.splitlines()[1:] if QUALID_RE.fullmatch(ln.strip())]

    def library_files(self) -> dict[str, Path]:
        """The .vo file each loaded library came from (`Locate Library`)."""
        out = {}
        for lib in self.libraries():
            text = " ".join(self.query(f"Locate Library {lib}.").split())
            m = re.fullmatch(rf"{re.escape(lib)} has been loaded from file (.+\.vo)", text)
            if m is None:
                raise AuditError(f"cannot tell where library {lib} was loaded from: {text!r}")
            out[lib] = Path(m.group(1))
        return out

    # --- names ---------------------------------------------------------------------------

    def locate(self, name: str) -> list[str]:
        """Kernel paths of the constants `name` may refer to (cached)."""
        if not QUALID_RE.fullmatch(name):
            return []
        if name not in self._located:
            try:
                self._located[name] = parse_locate(self.query(f"Locate {name}."))
            except AuditError:
                self._located[name] = []
        return self._located[name]

    def search(self, kind: str, inside: str, *, exact: bool = True) -> list[str]:
        """Kernel paths of the constants Coq declared with `kind` inside module `inside`
        (a name printed with the module's full path is one; others are resolved by Locate).
        `exact=False` lists with notations on, much faster for big numbers (`Printing All`
        writes 1000 as 1000 nested `S`): for enumerations, where a forged line could only
        add a name to audit, never hide one."""
        if not exact:
            self.run("Unset Printing All.")
        try:
            text = self.query(f"Search is:{kind} inside {inside}.")
        finally:
            if not exact:
                self.run("Set Printing All.")
        names = {ln.split(":")[0].strip() for ln in text.splitlines() if ln and not ln[0].isspace()}
        full = {n for n in names if n.startswith(inside + ".") and QUALID_RE.fullmatch(n)}
        return sorted(full | {path for n in names - full for path in self.locate(n)})

    def declared_kind(self, path: str, library: str) -> Kind:
        """How Coq says the body-less constant `path` of `library` was declared."""
        if library not in self._kinds:
            kinds: dict[str, Kind] = {}
            for k in AXIOM_KINDS:
                kinds.update(dict.fromkeys(self.search(k, library), Kind.AXIOM))
            kinds.update(dict.fromkeys(self.search("Conjecture", library), Kind.ADMITTED))
            self._kinds[library] = kinds
        return self._kinds[library].get(path, Kind.NO_BODY)

    # --- functors and module types -------------------------------------------------------

    def declare_parameter(self, module_type: str) -> str:
        """Declare a fresh module of type `module_type`; its kernel path."""
        name = self.fresh_name("P")
        self.run(f"Declare Module {name} : {module_type}.")
        self.params.add(f"Top.{name}")
        return name

    def apply(self, functor: str, arguments: Sequence[str]) -> str:
        name = self.fresh_name("I")
        self.run(f"Module {name} := {functor} {' '.join(arguments)}.")
        return name

    def fresh_name(self, what: str) -> str:
        """A name no library can hold (it carries this session's random nonce)."""
        self._modules += 1
        return f"Springtail_{what}_{self.nonce}_{self._modules}"

    def functor_params(self, path: str, *, module_type: bool) -> list[tuple[str, str]]:
        """(name, module type) of each parameter of the functor or functor type `path`, as
        Coq prints them (`Print Module`); AuditError unless each type is a path, possibly
        applied to paths or earlier parameters."""
        what = "Module Type" if module_type else "Module"
        text = " ".join(self.query(f"Print {what} {path}.").split())
        head = re.match(r"^Module (?:Type )?\S+ (?::=|:|=) ", text)
        if head is None:
            raise AuditError(f"cannot read the parameters of {path} from Coq's answer")
        first = re.compile(r"\b(?:Functor|Funsig) \(|\b(?:Struct|Sig)\b").search(text, head.end())
        if first is None:
            raise AuditError(f"cannot read the parameters of {path} from Coq's answer")
        if first.group().startswith(("Struct", "Sig")):
            return []
        params, i = [], first.start()
        while text.startswith(("Functor (", "Funsig ("), i):
            start = text.index("(", i)
            end = _matching_paren(text, start)
            name, _, ty = text[start + 1 : end].partition(":")
            ty = ty.strip()
            if ty.startswith("(") and ty.endswith(")"):
                ty = ty[1:-1]
            if not QUALID_RE.fullmatch(name) or not all(QUALID_RE.fullmatch(t) for t in ty.split()):
                raise AuditError(f"cannot instantiate {path}: parameter type {ty!r} is not a path")
            params.append((name, ty))
            i = end + 2
        return params

    # --- the audit -----------------------------------------------------------------------

    def assumptions(self, path: str) -> list[Assumption]:
        """Everything the constant `path` rests on, each classified by Coq."""
        entries, theory = parse_entries(self.query(f"Print Assumptions {path}."))
        out = [Assumption(line, Kind.THEORY) for line in theory]
        for e in entries:
            if e.line.endswith(_UNSAFE_SUFFIXES):
                out.append(Assumption(e.line, Kind.UNSAFE))
                continue
            located = self.locate(e.name)
            if len(located) != 1:
                raise AuditError(f"cannot resolve the assumption line {e.line[:200]!r}")
            out.append(Assumption(located[0], self._classify(located[0])))
        return out

    def _classify(self, path: str) -> Kind:
        module = next((p for p in self.params if path.startswith(p + ".")), None)
        if module is not None:
            # A field of a module we declared: an interface parameter, unless its module type
            # admitted it (Coq keeps the declaration kind of a module type's fields).
            return Kind.ADMITTED if path in self.conjectures(module) else Kind.PARAMETER
        if path.startswith("Top."):
            return Kind.NO_BODY  # a field of a module we instantiated: no declaration kind
        library = self.library_of(path)
        return self.declared_kind(path, library) if library else Kind.NO_BODY

    def conjectures(self, module: str) -> frozenset[str]:
        """Kernel paths of the admitted constants inside `module` (a path under Top)."""
        if module not in self._conj:
            found = self.search("Conjecture", module.removeprefix("Top."))
            self._conj[module] = frozenset(p if p.startswith("Top.") else f"Top.{p}" for p in found)
        return self._conj[module]

    def library_of(self, path: str) -> str:
        """The loaded library `path` belongs to (its longest loaded prefix), or ''."""
        if self._libs is None:
            self._libs = set(self.libraries())
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in self._libs:
                return prefix
        return ""


def _matching_paren(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise AuditError("unbalanced parentheses in Coq's answer")


# --- coqchk ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckerReport:
    """What `coqchk -o` says about a library and its environment."""

    ok: bool
    message: str  # why not, when not ok
    axioms: frozenset[str] = frozenset()  # kernel names, whole environment
    constants: tuple[str, ...] = ()  # constants of the checked libraries, in order
    module_types: frozenset[str] = frozenset()  # module types, and functor parameters
    modules: frozenset[str] = frozenset()
    functors: frozenset[str] = frozenset()  # modules with parameters

    def place(self, path: str) -> str:
        """Where the constant `path` sits: "top" (reachable by name once its library is
        loaded), "functor" (in a functor's body) or "type" (a field of a module type or of
        a functor's parameter)."""
        parts = path.split(".")
        prefixes = [".".join(parts[:k]) for k in range(1, len(parts))]
        if any(p in self.module_types and p not in self.modules for p in prefixes):
            return "type"
        return "functor" if any(p in self.functors for p in prefixes) else "top"


def run_coqchk(
    libraries: Iterable[str],
    loadpath: Iterable[str],
    *,
    cwd: Path,
    impredicative_set: bool,
    max_memory_mb: int,
) -> subprocess.Popen[bytes]:
    """Start `coqchk` checking each of `libraries` (the checked one and its dependencies
    that are not installed with Coq); every other library is loaded unchecked. Read the
    result with `read_coqchk`."""
    cmd = ["coqchk", "-o", *(a for lib in libraries for a in ("-norec", lib)), *loadpath]
    if impredicative_set:
        cmd.append("-impredicative-set")
    env = coq_subprocess_env(str(cwd))
    return spawn(cmd, cwd=cwd, env=env, max_memory_mb=max_memory_mb, stdout=subprocess.PIPE)


def read_coqchk(proc: subprocess.Popen[bytes], timeout_s: float) -> CheckerReport:
    try:
        raw, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return CheckerReport(False, f"coqchk ran past {timeout_s:.0f} s")
    finally:
        kill_group(proc)
    out = raw.decode("utf-8", errors="replace")
    if proc.returncode != 0 or "Modules were successfully checked" not in out:
        return CheckerReport(False, f"coqchk (Coq's independent checker) rejected it: {_why(out)}")
    return parse_coqchk(out)


def _why(out: str) -> str:
    """coqchk's error and the library it was checking."""
    checking = re.findall(r"^Checking library: (\S+)", out, re.M)
    error = out[out.rfind("Error") :] if "Error" in out else out[-300:]
    where = f" (checking {checking[-1]})" if checking else ""
    return " ".join(error.split())[:400] + where


def parse_coqchk(out: str) -> CheckerReport:
    summary = out.split("CONTEXT SUMMARY", 1)
    if len(summary) != 2:
        return CheckerReport(False, "coqchk printed no context summary")
    sections: dict[str, list[str]] = {}
    current = ""
    for line in summary[1].splitlines():
        m = re.match(r"^\* (.+?):(?: <none>)?\s*$", line)
        if m:
            current = m.group(1)
            sections[current] = []
        elif current and line.strip() and line.startswith("    "):
            sections[current].append(line.strip())
    trace = summary[0]
    return CheckerReport(
        **_trace_fields(trace),
        ok=True,
        message="",
        axioms=frozenset(sections.get("Axioms", [])),
    )


def _trace_fields(trace: str) -> dict:
    """Constants, modules, module types and functors from coqchk's trace. A functor shows
    as `checking module: F` followed by its parameters, each a `checking module type: P`
    outside F (with P's fields), before anything of F's body."""
    lines = re.findall(r"^\s*checking (cst|module type|module):\s*(\S+)$", trace, re.M)
    functors: set[str] = set()
    module, param = "", ""
    for kind, path in lines:
        if kind == "module":
            module, param = path, ""
        elif module and kind == "module type" and not path.startswith(module + "."):
            functors.add(module)
            param = path
        elif not (module and param and path.startswith(param + ".")):
            module, param = "", ""
    return {
        "constants": tuple(p for k, p in lines if k == "cst"),
        "module_types": frozenset(p for k, p in lines if k == "module type"),
        "modules": frozenset(p for k, p in lines if k == "module"),
        "functors": frozenset(functors),
    }
