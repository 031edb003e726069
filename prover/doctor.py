"""`springtail doctor`: which proof backends are usable on this machine, and why not."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from prover.envs.coq_project import HAMMER_LIBEXEC, coq_subprocess_env

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: str | None = None, timeout: float = 60) -> tuple[int, str]:
    try:
        p = subprocess.run(
            cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout, env=coq_subprocess_env()
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return 1, str(e)
    return p.returncode, (p.stdout + p.stderr).strip()


def check_coq() -> tuple[bool, str]:
    ide = shutil.which("coqidetop.opt") or shutil.which("coqidetop")
    if ide is None or shutil.which("coqc") is None:
        return (
            False,
            "coqidetop/coqc not found: `apt-get install -y coq` (make setup does it as root)",
        )
    rc, out = _run(["coqc", "--print-version"])
    return rc == 0, f"Coq {out.split()[0] if out else '?'} ({ide})"


def check_hammer() -> tuple[bool, str]:
    missing = [t for t in ("eprover", "z3", "cvc4") if shutil.which(t) is None]
    if missing:
        return (
            False,
            f"ATPs missing: {', '.join(missing)} "
            "(apt-get install -y libcoq-hammer eprover z3 cvc4)",
        )
    if not HAMMER_LIBEXEC.is_dir():
        return False, f"{HAMMER_LIBEXEC} missing: apt-get install -y libcoq-hammer"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "H.v"
        src.write_text("From Hammer Require Import Hammer Tactics.\n")
        rc, out = _run(["coqc", "-q", str(src)], cwd=tmp)
    if rc != 0:
        return False, f"CoqHammer does not load: {out[-200:]}"
    return True, "CoqHammer (sauto, hammer) with eprover, z3, cvc4"


def _loads(sentence: str) -> tuple[int, str]:
    """coqc on a one-line file: (exit code, output)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "Probe.v"
        src.write_text(sentence + "\n")
        return _run(["coqc", "-q", str(src)], cwd=tmp)


def check_coquelicot() -> tuple[bool, str]:
    """Coquelicot (37 of miniF2F-Coq's 488 problems import it)."""
    if shutil.which("coqc") is None:
        return False, "coqc not found: install Coq first"
    rc, out = _loads("Require Import Coquelicot.Coquelicot.")
    if rc != 0:
        return (
            False,
            "Coquelicot does not load (apt-get install -y libcoq-coquelicot; make setup does "
            f"it as root): {out[-160:]}",
        )
    return True, "Coquelicot (real analysis; miniF2F-Coq's problems import it)"


def check_arith() -> tuple[bool, str]:
    """The real-arithmetic closers `--arith` found (`arith_tools`), their imports loaded."""
    from prover.policies.portfolio import arith_tools

    if shutil.which("coqc") is None:
        return False, "coqc not found: install Coq first"
    closers, imports = arith_tools()
    rc, out = _loads("\n".join(imports))
    if rc != 0:
        return False, f"the imports of --arith do not load: {out[-160:]}"
    missing = [
        f"{what} (apt-get install -y {package})"
        for tactic, what, package in (
            ("psatz R 2", "csdp for psatz", "coinor-csdp"),
            ("interval", "Interval for `interval`", "libcoq-interval"),
        )
        if tactic not in closers
    ]
    detail = ", ".join(closers) + (f"; missing: {'; '.join(missing)}" if missing else "")
    return not missing, detail


def check_lean() -> tuple[bool, str]:
    if shutil.which("lake") is None:
        return (
            False,
            "`lake` not on PATH: install elan, then `lake build` at the repo root "
            "(README, Lean setup)",
        )
    rc, out = _run(["lake", "--version"], cwd=str(REPO))
    if rc != 0:
        return False, f"`lake --version` failed: {out[-200:]}"
    toolchain = (REPO / "lean-toolchain").read_text().strip()
    built = (REPO / ".lake" / "build" / "bin" / "repl").exists() or (
        REPO / ".lake" / "packages" / "REPL"
    ).exists()
    if not built:
        return (
            False,
            f"{out}; the REPL is not built yet: run `lake build` at the repo root ({toolchain})",
        )
    return True, f"{out}, project toolchain {toolchain}"


def check_leandojo() -> tuple[bool, str]:
    try:
        import lean_dojo
    except Exception as e:  # lean_dojo runs checks at import time (git version, env vars)
        return False, f"lean_dojo does not import: {e}"
    ok, detail = check_lean()
    if not ok:
        return False, f"lean_dojo {lean_dojo.__version__} imports, but Lean is missing: {detail}"
    return True, f"lean_dojo {lean_dojo.__version__}"


def diagnose() -> dict[str, tuple[bool, str]]:
    return {
        "coq": check_coq(),
        "hammer": check_hammer(),
        "coquelicot": check_coquelicot(),
        "arith": check_arith(),
        "lean": check_lean(),
        "leandojo": check_leandojo(),
    }
