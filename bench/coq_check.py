"""`springtail check` against coqc alone on one large file, and the sentence splitter's speed.

The file: N lemmas `l_i : forall a b : nat, a + b + k = b + a + k` with k = i mod 50 (Coq's
nat numerals are unary, so a large k would make each proof cost grow with i), proved by three
tactics each as in `coq_step_throughput.py`, in modules of 500 (so names are module paths),
and one section with a variable. Measured on the same file, one after the other:
- coqc alone (`coqc -q`, what a user's build costs);
- `CoqEnv.check_file` (compile with coqc, the audit process, coqchk), and the whole command
  line `springtail check` (process start and printing too); the ratio to coqc is the target:
  at most 2x;
- the sentence splitter (`split_sentences` + `find_theorems`) on this file and on the file
  repeated to about 50 MB (it must stay linear).

Run: .venv/bin/python bench/coq_check.py [--lemmas 12000] [--json bench/results/coq_check.json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, print_table, write_json

from prover.envs import get_env
from prover.envs.coq_source import find_theorems, split_sentences

TACTICS = "intros a b. rewrite (Nat.add_comm a b). reflexivity."


def script(n: int) -> str:
    parts = ["Require Import Arith.\n", "Section S.\nVariable k : nat.\n"]
    parts.append("Lemma in_section : k + 0 = k.\nProof. apply Nat.add_0_r. Qed.\nEnd S.\n")
    for i in range(n):
        if i % 500 == 0:
            parts.append(f"Module M{i // 500}.\n")
        parts.append(
            f"Lemma l_{i} : forall a b : nat, a + b + {i % 50} = b + a + {i % 50}.\n"
            f"Proof. {TACTICS} Qed.\n"
        )
        if i % 500 == 499 or i == n - 1:
            parts.append(f"End M{i // 500}.\n")
    return "".join(parts)


def time_coqc(path: Path) -> float:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        p = subprocess.run(
            ["coqc", "-q", "-o", str(Path(out) / path.with_suffix(".vo").name), str(path)],
            cwd=path.parent,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - t0
    assert p.returncode == 0, p.stdout[-500:]
    return elapsed


def time_check(path: Path, n: int) -> tuple[float, int]:
    with get_env("coq") as env:
        t0 = time.perf_counter()
        results = env.check_file(path)
        elapsed = time.perf_counter() - t0
    proved = sum(r.ok for r in results.values())
    assert proved == n + 1, f"{proved} of {n + 1} proved"
    return elapsed, proved


def time_cli(path: Path) -> float:
    exe = Path(sys.executable).parent / "springtail"
    t0 = time.perf_counter()
    p = subprocess.run([str(exe), "check", str(path)], capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr[-500:]
    return elapsed


def time_split(text: str) -> float:
    t0 = time.perf_counter()
    find_theorems(split_sentences(text))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lemmas", type=int, default=12000)
    ap.add_argument("--split-mb", type=float, default=50.0, help="size of the splitter's big text")
    ap.add_argument("--json", default="bench/results/coq_check.json")
    args = ap.parse_args()
    text = script(args.lemmas)
    big = text * max(1, int(args.split_mb * 2**20 / len(text)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Big.v"
        path.write_text(text)
        coqc_s = time_coqc(path)
        check_s, proved = time_check(path, args.lemmas)
        cli_s = time_cli(path)
    split_s, split_big_s = time_split(text), time_split(big)
    rows = [
        {"what": "coqc alone", "seconds": coqc_s},
        {"what": "CoqEnv.check_file", "seconds": check_s, "x coqc": check_s / coqc_s},
        {"what": "springtail check (CLI)", "seconds": cli_s, "x coqc": cli_s / coqc_s},
        {"what": f"splitter, {len(text) / 2**20:.1f} MB", "seconds": split_s},
        {"what": f"splitter, {len(big) / 2**20:.1f} MB", "seconds": split_big_s},
    ]
    cpu = machine()
    print(f"{args.lemmas} lemmas, {len(text) / 2**20:.2f} MB, {proved} proved; CPU: {cpu['cpu']}")
    print_table(rows, ["what", "seconds", "x coqc"])
    write_json(args.json, {"lemmas": args.lemmas, "file_mb": len(text) / 2**20, "rows": rows})


if __name__ == "__main__":
    main()
