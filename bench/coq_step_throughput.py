"""Tactic steps per second through `CoqEnv.step` against raw `coqtop` on the same script.

The script: N lemmas `l_i : forall a b : nat, a + b + i = b + a + i`, each proved by the
same three tactics (`intros a b.`, `rewrite (Nat.add_comm a b).`, `reflexivity.`). Measured:
- raw coqtop: the whole file piped into `coqtop -q`, minus the same file with no lemmas
  (start-up and imports), per tactic step (statement and `Qed.` costs included: an upper
  bound on coqtop's per-step cost);
- raw coqidetop: each tactic as one bare Add + Goal round trip (the floor under the env);
- env linear: `env.step` along each proof (what tracing and greedy search do);
- env branching: every step taken from the root again after a sibling, the access pattern
  of best-first search (each step then re-runs its path from the deepest live state).

Run: .venv/bin/python bench/coq_step_throughput.py [--lemmas 200] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from prover.envs import Progress, Proved, get_env
from prover.envs.coq_xml import CoqFail, CoqProcess

HEADER = "Require Import Arith.\n"
TACTICS = ["intros a b.", "rewrite (Nat.add_comm a b).", "reflexivity."]


def script(n: int) -> str:
    lemmas = [
        f"Lemma l_{i} : forall a b : nat, a + b + {i} = b + a + {i}.\n"
        f"Proof. {' '.join(TACTICS)} Qed.\n"
        for i in range(n)
    ]
    return HEADER + "".join(lemmas)


def time_coqtop(text: str, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        p = subprocess.run(["coqtop", "-q"], input=text, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        assert p.returncode == 0 and "Error" not in p.stdout + p.stderr, p.stderr[-500:]
    return best


def time_coqidetop(n: int) -> float:
    """The same tactics through bare coqidetop Add + Goal calls (no env bookkeeping)."""
    total = 0.0
    proc = CoqProcess()
    sid = proc.add(HEADER, proc.root_state)
    assert not isinstance(proc.goals(60), CoqFail)
    for i in range(n):
        sid = proc.add(f"Lemma l_{i} : forall a b : nat, a + b + {i} = b + a + {i}.", sid)
        proc.goals(60)
        for tac in TACTICS:
            t0 = time.perf_counter()
            sid = proc.add(tac, sid)
            out = proc.goals(60)
            total += time.perf_counter() - t0
            assert isinstance(sid, int) and not isinstance(out, CoqFail), out
        sid = proc.add("Qed.", sid)
        proc.goals(60)
    proc.close()
    return total


def time_env(path: Path, n: int, branching: bool) -> float:
    total = 0.0
    with get_env("coq", tactic_timeout=10.0) as env:
        for i in range(n):
            s = env.open(file=path, theorem=f"l_{i}")
            root = s
            for k, tac in enumerate(TACTICS):
                if branching and k:
                    t0 = time.perf_counter()
                    env.step(root, "intro a.")  # a sibling: invalidates the live path
                    total += time.perf_counter() - t0
                t0 = time.perf_counter()
                out = env.step(s, tac)
                total += time.perf_counter() - t0
                assert isinstance(out, Progress | Proved), out
                if isinstance(out, Progress):
                    s = out.state
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lemmas", type=int, default=200)
    ap.add_argument("--json", default="bench/results/coq_step_throughput.json")
    args = ap.parse_args()
    n, steps = args.lemmas, args.lemmas * len(TACTICS)
    raw_s = time_coqtop(script(n)) - time_coqtop(HEADER)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Bench.v"
        path.write_text(script(n))
        linear_s = time_env(path, n, branching=False)
        branch_s = time_env(path, n, branching=True)
    ide_s = time_coqidetop(n)
    rows = [
        ("raw coqtop (whole script)", raw_s, steps),
        ("raw coqidetop Add+Goal", ide_s, steps),
        ("env.step, linear", linear_s, steps),
        ("env.step, branching", branch_s, steps + n * (len(TACTICS) - 1)),
    ]
    print(
        f"{n} lemmas, {steps} tactic steps; machine: "
        f"{platform.processor() or platform.machine()}, CPU only"
    )
    print(f"| {'path':28s} | {'seconds':>8s} | {'steps':>6s} | {'steps/s':>8s} | {'ms/step':>8s} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 8}|{'-' * 10}|{'-' * 10}|")
    for name, secs, k in rows:
        print(f"| {name:28s} | {secs:8.2f} | {k:6d} | {k / secs:8.0f} | {1000 * secs / k:8.2f} |")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "lemmas": n,
                "steps": steps,
                "machine": platform.platform(),
                "rows": [
                    {"path": a, "seconds": b, "steps": c, "steps_per_s": c / b} for a, b, c in rows
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
