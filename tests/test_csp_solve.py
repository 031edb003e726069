"""Tests for prover/csp/solve.py (verified CSP solving) and `springtail csp solve`
(eval/csp_solve.py): every returned solution solves its puzzle, unsolvable puzzles abstain, the
search is complete under random confidences, children continue their parent's carry, the final
gate turns a search bug into abstentions, the exact solvers' node counts, and the command's
JSON record and its bad-input errors (one line, exit 2).

Every expectation is checked with `sudoku.is_solution` / `maze.is_optimal_path` or worked out
by hand, never with the code under test.

Run: taskset -c 0 env OMP_NUM_THREADS=1 pytest tests/test_csp_solve.py
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

import prover.csp.solve as solve_mod
from prover.csp import maze, sudoku
from prover.csp.model import CSPModel, CSPModelConfig
from prover.csp.solve import Result, exact_search, solve_verified
from prover.csp.task import resolve_data
from prover.csp.train import CSPTrainConfig, train
from prover.model.config import EncoderConfig

# --- stand-ins and puzzles ---


@dataclass
class StubOutput:
    logits: list[torch.Tensor]
    carry: Any


class RandomStub:
    """Random logits; its carry is a (B, 1) tensor holding the call's number, so a test can
    see which call's state a later call continued. Records (batch, num_steps, carry id)."""

    def __init__(self, seed: int, num_classes: int = 9) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.num_classes = num_classes
        self.calls: list[tuple[int, int | None, float | None]] = []
        self.inputs: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, num_steps: int | None = None, carry: Any = None):
        B, N = x.shape
        parent = None if carry is None else float(carry.flatten()[0])
        self.calls.append((B, num_steps, parent))
        self.inputs.append(x.clone())
        logits = torch.randn(B, N, self.num_classes, generator=self.gen)
        return StubOutput([logits], torch.full((B, 1), float(len(self.calls))))


def tiny_model(task: str) -> CSPModel:
    torch.manual_seed(0)
    enc = EncoderConfig(
        d_model=16, num_heads=1, d_ff=32, num_layers=1, num_steps=2, pointer_dim=4,
        grad_steps=1, pointer_topk=2 if task == "maze" else None,
    )  # fmt: skip
    return CSPModel(CSPModelConfig(task=task, encoder=enc))


def clashing(puzzle: np.ndarray) -> np.ndarray:
    """A blank filled with the digit of a given peer: two equal givens in a unit."""
    out = puzzle.copy()
    i = next(i for i in np.flatnonzero(puzzle == 0) if puzzle[sudoku.PEERS[i]].any())
    out[i] = next(puzzle[j] for j in sudoku.PEERS[i] if puzzle[j])
    return out


def without_solution(puzzle: np.ndarray, solution: np.ndarray) -> np.ndarray:
    """A blank given a digit that no peer holds but the unique solution does not have there, so
    that every blank keeps a candidate: no clash and nothing empty, yet no solution."""
    for i in np.flatnonzero(puzzle == 0):
        free = set(range(1, 10)) - set(puzzle[sudoku.PEERS[i]].tolist()) - {int(solution[i])}
        for d in sorted(free):
            out = puzzle.copy()
            out[i] = d
            if all(set(range(1, 10)) - set(out[sudoku.PEERS[j]].tolist())
                   for j in np.flatnonzero(out == 0)):  # fmt: skip
                assert sudoku.count_solutions(out, cap=1) == 0  # by the exact solver
                return out
    raise AssertionError("no such digit")


def random_removal(rng: np.random.Generator, num_removed: int) -> np.ndarray:
    """A random full grid with random cells blanked: often several solutions."""
    grid = sudoku.random_solution(rng)
    grid[rng.choice(81, size=num_removed, replace=False)] = 0
    return grid


def puzzle_mix(seed: int, rounds: int = 4) -> tuple[list[np.ndarray], list[bool]]:
    """(puzzles, solvable): unique 45-55-given puzzles, random removals (several solutions),
    clashes, and 41-45-given puzzles without a solution."""
    rng = np.random.default_rng(seed)
    puzzles, solvable = [], []
    for _ in range(rounds):
        p, _ = sudoku.generate(int(rng.integers(45, 56)), rng)
        puzzles += [p, random_removal(rng, int(rng.integers(25, 36))), clashing(p)]
        puzzles.append(without_solution(*sudoku.generate(int(rng.integers(40, 45)), rng)))
        solvable += [True, True, False, False]
    return puzzles, solvable


def check_sound(results: list[Result], puzzles: list[np.ndarray], budget: int) -> int:
    """Asserts the contract; returns the number solved."""
    assert len(results) == len(puzzles)
    wrong = 0
    for r, p in zip(results, puzzles, strict=True):
        assert 1 <= r.nodes <= budget
        assert (r.status == "solved") == (r.solution is not None)
        if r.solution is not None:
            assert r.solution.shape == (81,) and r.solution.dtype == np.int8
            wrong += not sudoku.is_solution(r.solution, p)
    assert wrong == 0
    return sum(r.status == "solved" for r in results)


# --- Sudoku ---


@pytest.mark.parametrize("who", ["random", "tiny-model"])
def test_returned_sudoku_solutions_solve_their_puzzles_and_unsolvable_ones_abstain(who):
    puzzles, solvable = puzzle_mix(seed=7, rounds=10)
    model = RandomStub(1) if who == "random" else tiny_model("sudoku")
    budget = 60
    results = solve_verified(model, "sudoku", np.stack(puzzles).astype(np.int64), nodes=budget)
    num_solved = check_sound(results, puzzles, budget)
    for r, ok in zip(results, solvable, strict=True):
        if not ok:
            assert r.status == "abstained" and r.solution is None
    assert num_solved > 0  # the property is not vacuous


def test_random_confidences_with_a_large_budget_find_the_unique_solution():
    rng = np.random.default_rng(3)
    pairs = [sudoku.generate(g, rng) for g in (45, 48, 50, 52, 55)]
    puzzles = [p for p, _ in pairs]
    unsolvable = [clashing(puzzles[0])]
    unsolvable += [without_solution(*sudoku.generate(g, rng)) for g in (40, 42, 44)]
    budget = 100_000
    stub = RandomStub(2)
    results = solve_verified(stub, "sudoku", np.stack(puzzles + unsolvable).astype(np.int64),
                             nodes=budget)  # fmt: skip
    assert check_sound(results, puzzles + unsolvable, budget) == len(pairs)
    for r, (_, solution) in zip(results[: len(pairs)], pairs, strict=True):
        assert np.array_equal(r.solution, solution)
    for r in results[len(pairs) :]:  # the search ran out of children, not out of budget
        assert r.status == "abstained" and r.nodes < budget
    assert results[len(pairs)].nodes == 1  # clashing givens: no child is consistent


def test_children_continue_their_parents_carry_with_one_more_given():
    puzzles, _ = puzzle_mix(seed=11)
    stub = RandomStub(5)
    solve_verified(stub, "sudoku", np.stack(puzzles).astype(np.int64), nodes=20,
                   steps_per_node=3, batch_size=6)  # fmt: skip
    roots = [c for c in stub.calls if c[2] is None]
    assert [b for b, _, _ in roots] == [6, 6, 4]  # one forward pass per batch of roots
    for k, (batch, steps, parent) in enumerate(stub.calls):
        if parent is None:
            continue
        assert batch == 1 and steps == 3
        assert parent is not None and 1 <= parent <= k  # the state of an earlier call
        x, before = stub.inputs[k][0], stub.inputs[int(parent) - 1]
        # the parent's row whose givens this child keeps, plus exactly one new given
        grown = [((row == 0) | (x == row)).all() and int((x != 0).sum() - (row != 0).sum()) == 1
                 for row in before]  # fmt: skip
        assert any(grown)


def test_the_final_gate_turns_a_search_bug_into_abstentions(monkeypatch):
    monkeypatch.setattr(solve_mod._Domain, "check", lambda self, grid: True)  # accepts anything
    puzzles, _ = puzzle_mix(seed=13)
    results = solve_verified(RandomStub(3), "sudoku", np.stack(puzzles).astype(np.int64), nodes=50)
    check_sound(results, puzzles, 50)
    assert all(r.status == "abstained" and r.nodes == 1 for r in results)


def test_a_zero_budget_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        solve_verified(RandomStub(0), "sudoku", np.zeros((1, 81), dtype=np.int64), nodes=0)


# --- mazes ---


def _mazes(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [maze.generate(20, rng) for _ in range(n)]


def test_maze_answers_are_shortest_paths_or_abstentions():
    pairs = _mazes(3, seed=4)
    blocked = pairs[0][0].copy()
    goal = int(np.argmax(blocked == maze.GOAL))
    size = int(np.sqrt(len(blocked)))
    for j in (goal - size, goal + size, goal - 1, goal + 1):  # G walled in: no path
        if 0 <= j < len(blocked) and abs(j % size - goal % size) <= 1:
            blocked[j] = maze.WALL
    questions = [q for q, _ in pairs] + [blocked]
    budget = 12
    for model in (tiny_model("maze"), RandomStub(6, num_classes=5)):
        results = solve_verified(model, "maze", np.stack(questions).astype(np.int64),
                                 nodes=budget)  # fmt: skip
        for r, q in zip(results, questions, strict=True):
            assert 1 <= r.nodes <= budget
            assert r.status == "abstained" or maze.is_optimal_path(r.solution, q)
        assert results[-1].status == "abstained"


class NoisyMazeOracle:
    """Logits that put the answer's path cells on the path with confidence, except `flips`
    cells, which get the wrong side by a small margin (path probability 0.45 or 0.55)."""

    def __init__(self, question: np.ndarray, answer: np.ndarray, flips: list[int]) -> None:
        on = (answer == maze.PATH).astype(np.float64)
        q = np.where(on > 0, 0.95, 0.05)
        q[flips] = np.where(on[flips] > 0, 0.45, 0.55)
        logits = np.full((len(question), 5), -20.0)
        logits[:, maze.PATH], logits[:, maze.OPEN] = np.log(q), np.log(1 - q)
        self.logits = torch.from_numpy(logits)

    def __call__(self, x: torch.Tensor, num_steps: int | None = None, carry: Any = None):
        return StubOutput([self.logits.expand(x.shape[0], -1, -1)], None)


def test_maze_search_fixes_each_wrong_cell_with_one_node():
    """Perfect maze, one path: the model's favourite for a flipped cell is infeasible (a wall on
    the only path, or a detour cell on it), so the pruned search spends one node per flip."""
    (question, answer), = _mazes(1, seed=9)  # fmt: skip
    rng = np.random.default_rng(0)
    path, off = np.flatnonzero(answer == maze.PATH), np.flatnonzero(answer == maze.OPEN)
    flips = [*rng.choice(path, 2, replace=False), *rng.choice(off, 2, replace=False)]
    oracle = NoisyMazeOracle(question, answer, [int(i) for i in flips])
    (result,) = solve_verified(oracle, "maze", question[None].astype(np.int64), nodes=50)
    assert result.status == "solved" and np.array_equal(result.solution, answer)
    assert result.nodes == len(flips) + 1


# --- the exact solvers' node counts ---


def test_exact_sudoku_counts_match_the_exact_solver():
    rng = np.random.default_rng(5)
    for givens in (25, 35, 45):
        p, s = sudoku.generate(givens, rng)
        found, nodes = exact_search("sudoku", p)
        assert np.array_equal(found, s) and nodes >= 1
    full = sudoku.random_solution(rng)
    assert exact_search("sudoku", full)[1] == 1
    assert exact_search("sudoku", clashing(p)) == (None, 0)
    one_row = np.zeros(81, dtype=np.int8)
    one_row[:9] = full[:9]  # no single anywhere: the search must branch
    found, nodes = exact_search("sudoku", one_row)
    assert sudoku.is_solution(found, one_row) and nodes > 1


def test_exact_maze_counts_bfs_expansions():
    code = {c: i for i, c in enumerate(maze.TOKENS)}
    grid = lambda text: np.array([code[c] for c in text], dtype=np.int8)  # noqa: E731
    # 3x3: S . G over a corridor; BFS takes S, then row 2 left to right, then G: 5 cells
    found, nodes = exact_search("maze", grid("S#G   ###"))
    assert maze.format_grid(found) == "S#Gooo###" and nodes == 5
    assert exact_search("maze", grid("S#G###   ")) == (None, 1)
    for question, answer in _mazes(2, seed=8):
        found, nodes = exact_search("maze", question)
        assert np.array_equal(found, answer) and nodes >= maze.shortest_path_length(question)


# --- the command ---

KEYS = {
    "task": str, "n": int, "solved": int, "abstained": int, "wrong": int, "mean_nodes": float,
    "exact_mean_nodes": float, "puzzles_per_s": float, "node_budget": int, "checkpoint": str,
    "source": str, "results": list,
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import prover.csp.task as task_mod

    root = tmp_path_factory.mktemp("solve")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(task_mod, "CACHE", root / "cache")
        enc = EncoderConfig(
            d_model=16, num_heads=1, d_ff=32, num_layers=1, num_steps=2, pointer_dim=4, grad_steps=1
        )
        cfg = CSPTrainConfig(
            model=CSPModelConfig(task="sudoku", encoder=enc), data="generated:4:11:60-60",
            batch_size=4, max_steps=2, augment=False, ema_decay=0.9, checkpoint_every=2,
        )  # fmt: skip
        train(cfg, root / "run", stop_at=2)
    return root


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_springtail_csp_solve_end_to_end(tiny_run, capsys, monkeypatch):
    import prover.csp.task as task_mod
    from prover.cli import main as cli_main

    monkeypatch.setattr(task_mod, "CACHE", tiny_run / "cache")
    out, run_dir, spec = tiny_run / "solve.json", str(tiny_run / "run"), "generated:5:3:40-45"
    argv = ["csp", "solve", "--task", "sudoku", "--checkpoint", run_dir, "--data", spec,
            "--nodes", "40", "--json", str(out)]  # fmt: skip
    assert cli_main(argv) == 0
    assert f"| {run_dir} | 5 |" in capsys.readouterr().out
    r = json.loads(out.read_text())
    assert set(r) == set(KEYS)
    for key, kind in KEYS.items():
        assert type(r[key]) is kind, (key, r[key])
    assert r["task"] == "sudoku" and r["n"] == 5 and len(r["results"]) == 5
    assert r["solved"] + r["abstained"] == 5 and r["wrong"] == 0 and r["node_budget"] == 40
    puzzles = resolve_data("sudoku", spec).inputs.astype(np.int8)
    assert sum(x["solution"] is not None for x in r["results"]) == r["solved"]
    for x, puzzle in zip(r["results"], puzzles, strict=True):
        assert set(x) == {"solution", "nodes"} and type(x["nodes"]) is int
        assert 1 <= x["nodes"] <= 40
        if x["solution"] is not None:
            assert len(x["solution"]) == 81 and x["solution"].isdigit()
            assert sudoku.is_solution(sudoku.parse_grid(x["solution"]), puzzle)
    assert r["mean_nodes"] == pytest.approx(np.mean([x["nodes"] for x in r["results"]]))
    assert cli_main([*argv[:-2], "--limit", "2"]) == 0
    assert "| 2 |" in capsys.readouterr().out


def test_springtail_csp_solve_bad_input_exits_2_before_solving(tiny_run, capsys, monkeypatch):
    import eval.csp_solve as cli_mod
    from prover.cli import main as cli_main

    def never(*args, **kwargs):
        raise AssertionError("solved despite bad input")

    monkeypatch.setattr(cli_mod, "solve_verified", never)
    run_dir = str(tiny_run / "run")
    base = ["csp", "solve", "--task", "sudoku", "--data", "generated:2:0:40-40"]
    cases = [
        ([*base, "--checkpoint", str(tiny_run / "none")], "none does not exist"),
        ([*base, "--checkpoint", run_dir, "--nodes", "0"], "--nodes must be at least 1, got 0"),
        ([*base[:3], "maze", *base[4:], "--checkpoint", run_dir], "trained on sudoku, not maze"),
        ([*base[:5], str(tiny_run / "no.csv"), "--checkpoint", run_dir], "no.csv does not exist"),
    ]
    for argv, message in cases:
        assert cli_main(argv) == 2
        assert message in _one_error_line(capsys.readouterr().err)


def test_results_are_consistent_by_construction():
    with pytest.raises(ValueError):
        Result(None, 1, "solved")
    with pytest.raises(ValueError):
        Result(np.zeros(81, dtype=np.int8), 1, "abstained")


def _maze_run(root, positions: str, data: str):
    enc = EncoderConfig(
        d_model=16, num_heads=1, d_ff=32, num_layers=1, num_steps=2, pointer_dim=4, grad_steps=1
    )
    cfg = CSPTrainConfig(
        model=CSPModelConfig(task="maze", encoder=enc, positions=positions),
        data=data, batch_size=2, max_steps=2, augment=False, ema_decay=0.9,
        checkpoint_every=2,
    )  # fmt: skip
    train(cfg, root / f"maze-{positions}", stop_at=2)
    return str(root / f"maze-{positions}")


def test_springtail_csp_solve_on_mazes_of_another_size(tmp_path, capsys, monkeypatch):
    import prover.csp.task as task_mod
    from prover.cli import main as cli_main

    monkeypatch.setattr(task_mod, "CACHE", tmp_path / "cache")
    out = tmp_path / "maze.json"
    run_dir = _maze_run(tmp_path, "none", "generated:4:11:20:15")
    argv = ["csp", "solve", "--task", "maze", "--checkpoint", run_dir, "--data"]
    assert cli_main([*argv, "generated:3:5:20:15", "--nodes", "4", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["n"] == 3 and record["wrong"] == 0
    assert record["solved"] + record["abstained"] == 3
    questions = resolve_data("maze", "generated:3:5:20:15").inputs
    for r, q in zip(record["results"], questions, strict=True):
        if r["solution"] is not None:  # checked here with the task's own checker
            grid = maze.parse_grid(r["solution"], allow_path=True)
            assert len(r["solution"]) == 225 and maze.is_optimal_path(grid, q.astype(np.int8))
    capsys.readouterr()
    # A model that learned positions for 30x30 refuses 15x15 mazes before solving.
    absolute = _maze_run(tmp_path, "absolute", "generated:2:11:60")
    capsys.readouterr()
    assert cli_main(["csp", "solve", "--task", "maze", "--checkpoint", absolute,
                     "--data", "generated:2:5:20:15"]) == 2  # fmt: skip
    assert "learned positions for 900 cells" in _one_error_line(capsys.readouterr().err)
    # An unwritable --json is refused before solving too.
    assert cli_main([*argv, "generated:2:5:20:15", "--json", str(tmp_path)]) == 2
    assert "is a directory" in _one_error_line(capsys.readouterr().err)


def test_wrong_answers_are_counted_by_a_check_apart_from_the_solver():
    from eval.csp_solve import count_wrong
    from prover.csp.task import CSPData

    rng = np.random.default_rng(4)
    puzzle, solution = sudoku.generate(40, rng)
    bad = solution.copy()
    bad[[0, 1]] = bad[[1, 0]]  # two cells of a row swapped: rows still fine, columns not
    data = CSPData(puzzle[None].astype(np.int64), solution[None].astype(np.int64) - 1, "t")
    right = Result(solution, 1, "solved")
    wrong = Result(bad, 1, "solved")
    assert count_wrong("sudoku", data, [right]) == 0
    assert count_wrong("sudoku", data, [wrong]) == 1
    question, answer = maze.generate(20, rng, size=15)
    mdata = CSPData(question[None].astype(np.int64), answer[None].astype(np.int64), "t")
    stray = answer.copy()
    stray[np.flatnonzero((question == maze.OPEN) & (answer != maze.PATH))[0]] = maze.PATH
    cut = answer.copy()
    cut[np.flatnonzero(answer == maze.PATH)[0]] = maze.OPEN
    assert count_wrong("maze", mdata, [Result(answer, 1, "solved")]) == 0
    assert count_wrong("maze", mdata, [Result(cut, 1, "solved")]) == 1
    assert count_wrong("maze", mdata, [Result(stray, 1, "solved")]) == 1
