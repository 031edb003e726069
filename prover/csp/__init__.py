"""Constraint-satisfaction benchmarks on Springtail's encoder: Sudoku and 30x30 mazes.

`sudoku.py` and `maze.py` (parsing, generators, augmentations, exact solvers, structural
links), `task.py` (the common data form), `model.py` (cell model and losses), `train.py`
(training under accelerate). Evaluation: `eval/csp.py`; budget benchmark: `bench/csp_budget.py`.
"""
