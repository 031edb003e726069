"""Tests for prover/csp/ (builders, augmentations, solvers, structural links), the CSP model's
training (overfitting a few puzzles, exact resume) and eval/csp.py; bad input (rows without a
solution, labels that do not solve their puzzle, generator specs out of reach) is refused with
one clear line and exit code 2.

Run: pytest tests/test_csp.py
"""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np
import pytest
import torch

from prover.csp import maze, sudoku
from prover.csp.model import CSPModel, CSPModelConfig
from prover.csp.task import CSPDataError, get_task, load, resolve_data
from prover.csp.train import CSPTrainConfig, load_model, make_batch, train
from prover.model.config import EncoderConfig

from .conftest import SHARED_DATA

SEEDS = range(5)


def test_sudoku_generator_gives_unique_solutions_with_the_asked_givens():
    rng = np.random.default_rng(0)
    for givens in (25, 30, 36, 40):
        puzzle, solution = sudoku.generate(givens, rng)
        assert int((puzzle != 0).sum()) == givens
        assert sudoku.is_solution(solution, puzzle)
        found = sudoku.solve(puzzle, limit=2)
        assert len(found) == 1 and (found[0] == solution).all()


def test_sudoku_augmentations_keep_puzzles_valid():
    rng = np.random.default_rng(1)
    puzzle, solution = sudoku.generate(30, rng)
    seen = set()
    for seed in SEEDS:
        p, s = sudoku.augment(puzzle, solution, np.random.default_rng(seed))
        assert sudoku.is_solution(s, p)
        assert int((p != 0).sum()) == 30
        assert sudoku.count_solutions(p) == 1
        seen.add(sudoku.format_grid(p))
    assert len(seen) == len(SEEDS)  # augmentations actually change the grid
    assert sudoku.is_solution(solution, puzzle)  # inputs untouched


def test_sudoku_validity_check_catches_broken_grids():
    rng = np.random.default_rng(2)
    puzzle, solution = sudoku.generate(30, rng)
    broken = solution.copy()
    broken[[0, 1]] = broken[[1, 0]]  # swap two cells of row 0: columns break
    assert not sudoku.is_solution(broken, np.zeros(81, dtype=np.int8))
    wrong_given = puzzle.copy()
    i = int(np.flatnonzero(puzzle)[0])
    wrong_given[i] = puzzle[i] % 9 + 1
    assert not sudoku.is_solution(solution, wrong_given)
    assert sudoku.solve(np.array([5, 5] + [0] * 79, dtype=np.int8)) == []


def test_sudoku_peer_links():
    links = sudoku.peer_links()
    assert links.shape == (81, 81) and (links == links.T).all()
    assert (links.sum(1) == 20).all() and not links.diagonal().any()


def test_maze_generator_and_dihedral_augmentations():
    rng = np.random.default_rng(0)
    question, answer = maze.generate(80, rng)
    assert maze.shortest_path_length(question) >= 80
    assert maze.is_optimal_path(answer, question)
    assert (maze.solve(question) == answer).all()  # perfect maze: one path
    for k in range(8):
        q, a = maze.dihedral(question, k), maze.dihedral(answer, k)
        assert maze.is_optimal_path(a, q)
        assert maze.shortest_path_length(q) == maze.shortest_path_length(question)
    assert len({maze.format_grid(maze.dihedral(question, k)) for k in range(8)}) == 8


def test_maze_path_check_rejects_detours_and_broken_paths():
    rng = np.random.default_rng(3)
    question, answer = maze.generate(60, rng)
    broken = answer.copy()
    broken[np.flatnonzero(answer == maze.PATH)[5]] = maze.OPEN
    assert not maze.is_optimal_path(broken, question)
    moved_wall = answer.copy()
    moved_wall[np.flatnonzero(question == maze.WALL)[0]] = maze.OPEN
    assert not maze.is_optimal_path(moved_wall, question)
    links = maze.adjacency_links()
    assert links.sum() == 2 * 2 * 30 * 29 and (links == links.T).all()


@pytest.mark.parametrize(
    "name,task,n",
    [
        ("sudoku/sudoku_extreme_train_1k.csv", "sudoku", 1000),
        ("sudoku/puzzles3_magictour_top1465.csv", "sudoku", 1465),
        ("maze/maze30_hard_test.jsonl", "maze", 1000),
    ],
)
def test_shared_files_load_and_their_labels_are_correct(name, task, n):
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/data is beside the repo in CI)")
    data = load(task, path)
    assert len(data) == n
    for x, y in zip(data.inputs[:20], data.targets[:20], strict=True):
        if task == "sudoku":
            assert sudoku.is_solution((y + 1).astype(np.int8), x.astype(np.int8))
        else:
            assert maze.is_optimal_path(y.astype(np.int8), x.astype(np.int8))


def test_bad_data_gets_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("puzzle,solution\n123,456\n")
    with pytest.raises(CSPDataError, match="bad.csv:2"):
        load("sudoku", bad)
    with pytest.raises(CSPDataError, match="does not exist.*sapientinc"):
        load("maze", tmp_path / "missing.jsonl")
    with pytest.raises(CSPDataError, match="generated:N:SEED"):
        resolve_data("sudoku", "generated:ten:0")


def test_generated_sets_are_cached_and_deterministic(tmp_path, monkeypatch):
    import prover.csp.task as task_mod

    monkeypatch.setattr(task_mod, "CACHE", tmp_path)
    a = resolve_data("sudoku", "generated:5:3:35-36")
    assert list(tmp_path.glob("*.npz"))
    b = resolve_data("sudoku", "generated:5:3:35-36")
    assert (a.inputs == b.inputs).all() and (a.targets == b.targets).all()
    assert len(resolve_data("sudoku", "generated:5:3:35-36", limit=2)) == 2


def tiny_config(**kw) -> CSPTrainConfig:
    enc = EncoderConfig(
        d_model=32, num_heads=2, d_ff=64, num_layers=1, num_steps=3, pointer_dim=8, grad_steps=2
    )
    base = CSPTrainConfig(
        model=CSPModelConfig(task="sudoku", encoder=enc),
        data="generated:4:11:60-60",
        batch_size=4,
        max_steps=20,
        augment=False,
        ema_decay=0.9,
        log_every=5,
        checkpoint_every=10,
    )
    return dataclasses.replace(base, **kw)


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    import prover.csp.task as task_mod

    monkeypatch.setattr(task_mod, "CACHE", tmp_path / "cache")


def test_batches_are_a_function_of_seed_and_step(isolated_cache):
    cfg = tiny_config(augment=True)
    data = resolve_data("sudoku", cfg.data)
    spec = get_task("sudoku")
    x1, y1 = make_batch(data, spec, cfg, 7)
    x2, y2 = make_batch(data, spec, cfg, 7)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    halves = [make_batch(data, spec, cfg, 7, rank, 2) for rank in (0, 1)]
    assert torch.equal(torch.cat([h[0] for h in halves]), x1)
    for x, y in zip(x1.numpy(), y1.numpy(), strict=True):  # augmented pairs stay valid
        assert sudoku.is_solution((y + 1).astype(np.int8), x.astype(np.int8))


def test_tiny_training_overfits_a_few_puzzles(tmp_path, isolated_cache):
    cfg = tiny_config(
        max_steps=400,
        ema_decay=0.0,
        halt_weight=0.0,
        optim=dataclasses.replace(
            CSPTrainConfig().optim, lr=3e-3, warmup_steps=10, schedule="constant"
        ),
    )
    summary = train(cfg, tmp_path / "run")
    assert summary["steps"] == 400
    from eval.csp import evaluate

    model, _, _ = load_model(tmp_path / "run", use_ema=False)
    result = evaluate("sudoku", resolve_data("sudoku", cfg.data), model=model)
    assert result["exact_match"] == 1.0 and result["cell_accuracy"] == 1.0


def test_resume_equals_an_uninterrupted_run(tmp_path, isolated_cache):
    cfg = tiny_config(max_steps=12, augment=True)
    train(cfg, tmp_path / "straight")
    train(cfg, tmp_path / "resumed", stop_at=6)
    assert sorted(p.name for p in (tmp_path / "resumed").glob("ckpt_*.pt"))[-1] == "ckpt_000006.pt"
    train(cfg, tmp_path / "resumed")
    a = torch.load(tmp_path / "straight" / "ckpt_000012.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "ckpt_000012.pt", weights_only=False)
    for key in ("model", "ema"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs after resume"
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]


def test_resume_refuses_another_config(tmp_path, isolated_cache):
    train(tiny_config(max_steps=2), tmp_path / "run")
    with pytest.raises(ValueError, match="another config"):
        train(tiny_config(max_steps=2, seed=5), tmp_path / "run")


def test_load_model_refuses_a_corrupt_config_json(tmp_path, isolated_cache):
    train(tiny_config(max_steps=1), tmp_path / "run")
    path = tmp_path / "run" / "config.json"
    meta = json.loads(path.read_text())
    meta["config"]["model"] = "sudoku"  # a string where the model's settings belong
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"config\.json is corrupt.*model = 'sudoku'"):
        load_model(tmp_path / "run")


def test_eval_cli_on_a_tiny_file(tmp_path, isolated_cache, capsys):
    from eval.csp import main as eval_main

    rng = np.random.default_rng(4)
    rows = [sudoku.generate(45, rng) for _ in range(3)]
    csv = tmp_path / "tiny.csv"
    csv.write_text(
        "puzzle,solution\n"
        + "".join(f"{sudoku.format_grid(p)},{sudoku.format_grid(s)}\n" for p, s in rows)
    )
    out = tmp_path / "exact.json"
    assert (
        eval_main(["--task", "sudoku", "--solver", "exact", "--data", str(csv), "--json", str(out)])
        == 0
    )
    result = json.loads(out.read_text())
    assert {"task", "n", "exact_match", "cell_accuracy", "mean_steps", "puzzles_per_s"} <= set(
        result
    )
    assert result["n"] == 3 and result["exact_match"] == 1.0

    train(tiny_config(max_steps=3), tmp_path / "run")
    out = tmp_path / "model.json"
    svg = tmp_path / "steps.svg"
    args = [
        "--task",
        "sudoku",
        "--checkpoint",
        str(tmp_path / "run"),
        "--data",
        str(csv),
        "--json",
        str(out),
        "--plot",
        str(svg),
    ]
    assert eval_main(args) == 0
    result = json.loads(out.read_text())
    assert 0.0 <= result["exact_match"] <= 1.0 and 0.0 <= result["cell_accuracy"] <= 1.0
    assert result["mean_steps"] == 3.0 and len(result["by_steps"]) == 6
    assert svg.read_text().startswith("<svg")
    assert (
        eval_main(["--task", "maze", "--checkpoint", str(tmp_path / "run"), "--data", str(csv)])
        == 2
    )
    assert "error" in capsys.readouterr().err


def test_springtail_csp_commands_exit_2_on_bad_input(tmp_path, capsys):
    from prover.cli import main as cli_main

    missing = str(tmp_path / "none.csv")
    assert (
        cli_main(["csp", "eval", "--task", "sudoku", "--solver", "exact", "--data", missing]) == 2
    )
    assert cli_main(["csp", "train", "--task", "sudoku", "--out", str(tmp_path / "r"),
                     "model.encoder.num_stepz=3"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "does not exist" in err and "unknown config key 'num_stepz'" in err
    assert "Traceback" not in err


# --- bad input ---


def _sudoku_csv(path, rows, header="puzzle,solution"):
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def _sudoku_pair(seed=5):
    p, s = sudoku.generate(40, np.random.default_rng(seed))
    return sudoku.format_grid(p), sudoku.format_grid(s)


def test_a_row_without_a_solution_names_the_file_and_row(tmp_path):
    p, s = _sudoku_pair()
    short = _sudoku_csv(tmp_path / "short.csv", [(p, s), (p,)])
    with pytest.raises(CSPDataError, match=r"short\.csv:3: the row has no solution"):
        load("sudoku", short)
    empty = _sudoku_csv(tmp_path / "empty.csv", [(p, s), (p, s), (p, "")])
    with pytest.raises(CSPDataError, match=r"empty\.csv:4: the row has no solution"):
        load("sudoku", empty)
    extreme = _sudoku_csv(tmp_path / "x.csv", [("0", p)], header="index,question,answer")
    with pytest.raises(CSPDataError, match=r"x\.csv:2: the row has no answer"):
        load("sudoku", extreme)
    assert len(load("sudoku", short, limit=1)) == 1  # rows past the limit are not read
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"puzzle,solution\n\xff\xfe\x00" * 10)
    with pytest.raises(CSPDataError, match="binary.csv.*not a readable CSV"):
        load("sudoku", binary)


def test_sudoku_labels_are_checked_against_their_puzzles(tmp_path):
    p, s = _sudoku_pair()
    swapped = s[1] + s[0] + s[2:]  # row 1 still a permutation, columns 1 and 2 are not
    i = next(k for k, c in enumerate(p) if c != ".")
    wrong_given = p[:i] + str(int(p[i]) % 9 + 1) + p[i + 1 :]
    cases = [
        (("." * 81, swapped), "column 1 has"),
        ((wrong_given, s), f"row 1, column {i + 1} is {s[i]}, but the puzzle gives"),
        ((p, "." + s[1:]), "not a full grid"),
    ]
    for (puzzle, solution), match in cases:
        bad = _sudoku_csv(tmp_path / "bad.csv", [(p, s), (puzzle, solution)])
        with pytest.raises(
            CSPDataError, match=rf"bad\.csv:3: the solution does not solve.*{match}"
        ):
            load("sudoku", bad)
    grid = sudoku.parse_grid(s)
    assert sudoku.solution_problem(grid, sudoku.parse_grid(p)) is None
    box_only = grid.reshape(9, 9)[[0, 3, 6, 1, 4, 7, 2, 5, 8]].reshape(-1)  # rows ok, boxes not
    assert sudoku.solution_problem(box_only, np.zeros(81, dtype=np.int8)).startswith("box 1 has")


def _maze_jsonl(path, pairs):
    path.write_text(
        "".join(
            json.dumps({"question": maze.format_grid(q), "answer": maze.format_grid(a)}) + "\n"
            for q, a in pairs
        )
    )
    return path


def test_maze_labels_are_checked_against_their_questions(tmp_path):
    question, answer = maze.generate(60, np.random.default_rng(3))
    path_cells = np.flatnonzero(answer == maze.PATH)
    broken = answer.copy()
    broken[path_cells[5]] = maze.OPEN
    through_wall = answer.copy()
    through_wall[np.flatnonzero(question == maze.WALL)[0]] = maze.PATH
    stray = answer.copy()
    marked = np.isin(answer, (maze.PATH, maze.START, maze.GOAL))
    far = [
        i
        for i in np.flatnonzero(question == maze.OPEN)
        if not marked[maze.NEIGHBOURS[i]].any()  # an open cell away from the path
    ]
    stray[far[0]] = maze.PATH
    two_starts = question.copy()
    two_starts[far[0]] = maze.START
    cases = [
        ((question, broken), "marked neighbours"),
        ((question, through_wall), "'o' in the answer but '#' in the question"),
        ((question, stray), "has 0 marked neighbours"),
        ((question, question), "\\('[SG]'\\) has 0 marked neighbours"),
        ((two_starts, answer), "the question has 2 S cells"),
    ]
    for pair, match in cases:
        bad = _maze_jsonl(tmp_path / "bad.jsonl", [(question, answer), pair])
        with pytest.raises(CSPDataError, match=rf"bad\.jsonl:2: the answer is not a path.*{match}"):
            load("maze", bad)
    assert maze.path_problem(answer, question) is None
    lines = (tmp_path / "bad.jsonl").read_text().splitlines()
    (tmp_path / "no_answer.jsonl").write_text(lines[0] + "\n" + '{"question": "#"}\n')
    with pytest.raises(CSPDataError, match=r"no_answer\.jsonl:2: the record has no 'answer'"):
        load("maze", tmp_path / "no_answer.jsonl")


@pytest.mark.parametrize(
    "name,task",
    [
        ("sudoku/puzzles2_17_clue.csv", "sudoku"),
        ("sudoku/puzzles5_forum_hardest_1905_11+.csv", "sudoku"),
        ("sudoku/puzzles7_serg_benchmark.csv", "sudoku"),
        ("maze/maze30_hard_train.jsonl", "maze"),
    ],
)
def test_the_other_shared_files_pass_the_label_checks(name, task):
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/data is beside the repo in CI)")
    assert len(load(task, path, limit=50)) == 50


IMPOSSIBLE_SPECS = [
    ("sudoku", "generated:5:0:17-17", "cannot reach fewer than 23"),
    ("sudoku", "generated:5:0:10-40", "cannot reach fewer than 23"),
    ("sudoku", "generated:5:0:40-30", "range 40-30 is empty"),
    ("sudoku", "generated:5:0:30-81", "at most 80"),
    ("sudoku", "generated:0:0:30-40", "N must be at least 1"),
    ("sudoku", "generated:5:-1:30-40", "SEED at least 0"),
    ("sudoku", "generated:5:0:30", "not LO-HI"),
    ("sudoku", "generated:5:0:30-40:9", "3 to 4"),
    ("maze", "generated:5:0:500", "over 200"),
    ("maze", "generated:5:0:100:15", "over 56: .* perfect 15x15 maze"),
    ("maze", "generated:5:0:20:3", "size must be in 5..60"),
    ("maze", "generated:5:0:20:15:1", "3 to 5"),
    ("maze", "generated:5:0:0", "at least 1"),
]


@pytest.mark.parametrize("task,spec,match", IMPOSSIBLE_SPECS)
def test_impossible_generator_specs_are_refused_up_front(task, spec, match, tmp_path, monkeypatch):
    import prover.csp.task as task_mod

    monkeypatch.setattr(task_mod, "CACHE", tmp_path)

    def never(*args, **kwargs):
        raise AssertionError("the generator ran on a spec that should have been refused")

    monkeypatch.setattr(sudoku, "generate", never)
    monkeypatch.setattr(maze, "generate", never)
    with pytest.raises(CSPDataError, match=rf"bad data spec.*{match}"):
        resolve_data(task, spec)


def test_generation_gives_up_after_bounded_attempts(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no unique puzzle with 23 givens in 1 grids"):
        sudoku.generate(23, np.random.default_rng(0), max_tries=1)
    with pytest.raises(ValueError, match="no maze with a path of >= 200 edges in 1 tries"):
        maze.generate(200, np.random.default_rng(0), max_tries=1)
    import prover.csp.task as task_mod

    monkeypatch.setattr(task_mod, "CACHE", tmp_path)
    monkeypatch.setattr(sudoku, "generate", functools.partial(sudoku.generate, max_tries=1))
    with pytest.raises(CSPDataError, match="cannot generate sudoku puzzles: no unique puzzle"):
        resolve_data("sudoku", "generated:1:0:23-23")
    assert not list(tmp_path.iterdir())  # nothing cached


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_bad_csp_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    import prover.csp.task as task_mod
    from eval.csp import main as eval_main
    from prover.csp.train import main as train_main

    monkeypatch.setattr(task_mod, "CACHE", tmp_path / "cache")
    p, s = _sudoku_pair()
    short = str(_sudoku_csv(tmp_path / "short.csv", [(p, s), (p,)]))
    wrong = str(_sudoku_csv(tmp_path / "wrong.csv", [(p, s[1] + s[0] + s[2:])]))
    question, answer = maze.generate(60, np.random.default_rng(3))
    off_path = str(_maze_jsonl(tmp_path / "m.jsonl", [(question, question)]))
    cases = [
        ("sudoku", short, "short.csv:3: the row has no solution"),
        ("sudoku", wrong, "wrong.csv:2: the solution does not solve the puzzle"),
        ("sudoku", "generated:5:0:17-17", "cannot reach fewer than 23"),
        ("sudoku", "generated:5:0:40-30", "is empty"),
        ("maze", off_path, "m.jsonl:1: the answer is not a path"),
    ]
    for task, data, message in cases:
        assert eval_main(["--task", task, "--solver", "exact", "--data", data]) == 2
        assert message in _one_error_line(capsys.readouterr().err)
    for task, data, message in cases[:3]:
        out = tmp_path / "run"
        with pytest.raises(SystemExit) as info:
            train_main(["--task", task, "--out", str(out), "--data", data, "--steps", "1"])
        assert info.value.code == 2 and not out.exists()
        assert message in _one_error_line(capsys.readouterr().err)
    from prover.cli import main as cli_main

    for action in ("eval", "train"):
        who = ["--solver", "exact"] if action == "eval" else ["--out", str(tmp_path / "run")]
        argv = ["csp", action, "--task", "sudoku", *who, "--data", "generated:5:0:17-17"]
        assert cli_main(argv) == 2
        assert "cannot reach fewer than 23" in _one_error_line(capsys.readouterr().err)


def test_generated_mazes_of_another_size_are_valid_and_cached_apart(tmp_path, monkeypatch):
    import prover.csp.task as task_mod

    monkeypatch.setattr(task_mod, "CACHE", tmp_path)
    small = resolve_data("maze", "generated:6:0:20:15")
    assert small.inputs.shape == (6, 225)
    for q, a in zip(small.inputs, small.targets, strict=True):
        q8, a8 = q.astype(np.int8), a.astype(np.int8)
        assert maze.path_problem(a8, q8) is None and maze.is_optimal_path(a8, q8)
        assert int((a8 == maze.PATH).sum()) + 1 >= 20
        for k in range(8):  # the symmetries keep a 15x15 answer an answer
            assert maze.path_problem(maze.dihedral(a8, k), maze.dihedral(q8, k)) is None
    assert resolve_data("maze", "generated:6:0:20").inputs.shape == (6, 900)
    assert len(list(tmp_path.glob("*size15*"))) == 1


def test_a_model_trained_on_15x15_mazes_runs_unchanged_on_30x30(tmp_path, monkeypatch):
    import prover.csp.task as task_mod
    from eval.csp import evaluate
    from prover.csp.train import load_model, maze_preset, train

    monkeypatch.setattr(task_mod, "CACHE", tmp_path)
    base = maze_preset()
    enc = dataclasses.replace(base.model.encoder, d_model=16, d_ff=32, num_steps=2, pointer_dim=8)
    model_cfg = dataclasses.replace(base.model, encoder=enc, positions="none", link_init=4.0)
    cfg = dataclasses.replace(
        base, model=model_cfg, data="generated:8:0:20:15", batch_size=2, max_steps=2
    )
    train(cfg, tmp_path / "run")
    model, _, step = load_model(tmp_path / "run")
    assert step == 2 and model.pos is None
    big = resolve_data("maze", "generated:2:1:60")
    out = model(torch.from_numpy(big.inputs))
    assert out.logits[-1].shape == (2, 900, 5)
    links = model.links_for(900, torch.device("cpu"))
    assert links.shape == (900, 900) and links[0, 1] == 4.0 and links[0, 31] == 0.0
    record = evaluate("maze", big, model=model)
    assert record["n"] == 2 and 0.0 <= record["cell_accuracy"] <= 1.0
    # A model with absolute positions says why it cannot read another size.
    absolute = CSPModel(dataclasses.replace(model_cfg, positions="absolute"))
    with pytest.raises(ValueError, match="learned positions for 900 cells.*positions=none"):
        absolute(torch.from_numpy(resolve_data("maze", "generated:1:0:20:15").inputs))


def test_writer_lr_multiplier_scales_only_the_link_writers_parameters():
    from prover.trainer import OptimConfig, make_optimizer

    cfg = CSPTrainConfig(optim=OptimConfig(lr=1e-3, warmup_steps=0, writer_lr_mult=0.1))
    model = CSPModel(cfg.model)
    opt, sched = make_optimizer(model, cfg)
    rest, writer = opt.param_groups
    writer_ids = {id(p) for p in model.encoder.writer.parameters()}
    assert {id(p) for p in writer["params"]} == writer_ids
    assert not writer_ids & {id(p) for p in rest["params"]}
    assert len(rest["params"]) + len(writer["params"]) == len(list(model.parameters()))
    assert writer["lr"] == pytest.approx(1e-4) and rest["lr"] == pytest.approx(1e-3)
    looped = CSPModel(dataclasses.replace(cfg.model, kind="looped"))
    with pytest.raises(ValueError, match="no link writer"):
        make_optimizer(looped, cfg)
    one_group, _ = make_optimizer(model, CSPTrainConfig())  # mult 1: old checkpoints load
    assert len(one_group.param_groups) == 1
