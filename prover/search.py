"""Best-first proof search over a `ProofEnv`, driven by a `TacticPolicy`.

Nodes are proof states; a node's priority is the sum of the log-probabilities of the tactics
on its path (optionally divided by the path length). States with the same goal text are
de-duplicated (the first path to reach a state keeps it). Budgets: wall time, expansions and
tactic calls. Time is split into policy, environment and search overhead.

The best `expand_batch` open nodes are taken from the frontier together and their candidates
come from one `policy.propose_batch` call (a model policy then runs one batched `generate`);
they are then expanded in priority order. Every tactic call's outcome is
passed to `on_outcome(state, tactic, result, seconds)` when given (the replay store records
them there).

Tree invariants (checked after every expansion and on return with `SearchConfig.debug`,
`--debug-search` on the command line; a broken one raises `SearchInvariantError`):
- the root has no parent and depth 0; every other node has a parent, which is expanded, and
  its depth is its parent's depth + 1;
- a node's score is its parent's score + its tactic's log-probability, which is at most 0;
- goal texts of nodes are unique (de-duplication), and each node is filed under its own text;
- every node in the frontier is in the tree and open (not yet expanded).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prover.envs.base import (
    Failed,
    Progress,
    ProofEnv,
    ProofState,
    Proved,
    Status,
    StepResult,
    TimedOut,
)
from prover.policies.base import TacticPolicy

# (state, tactic, outcome, seconds, the candidate's source)
OutcomeHook = Callable[[ProofState, str, StepResult, float, str], None]


@dataclass(frozen=True)
class SearchConfig:
    time_limit_s: float = 60.0
    max_expansions: int = 200
    max_tactic_calls: int = 2000
    length_normalize: bool = False
    expand_batch: int = 1  # open nodes whose candidates are asked of the policy in one call
    debug: bool = False  # check the tree's invariants after every expansion

    def __post_init__(self) -> None:
        if not min(self.time_limit_s, self.max_expansions, self.max_tactic_calls) > 0:
            raise ValueError("search budgets (time, expansions, tactic calls) must be positive")
        if self.expand_batch < 1:
            raise ValueError(f"expand_batch must be at least 1, got {self.expand_batch}")


class SearchInvariantError(RuntimeError):
    """The search tree broke one of its invariants (a bug in search, found by `debug`)."""


@dataclass(frozen=True)
class SearchResult:
    status: Status  # PROVED | FAILED (tree exhausted) | BUDGET (a budget ran out)
    proof: tuple[str, ...]
    expansions: int
    tactic_calls: int
    policy_s: float
    env_s: float
    overhead_s: float
    counts: dict[str, int] = field(default_factory=dict)  # outcome kind -> number
    # (state text, tactic) along the proof, root first: the steps a proof teaches
    trajectory: tuple[tuple[str, str], ...] = ()
    sources: tuple[str, ...] = ()  # the source of each step of the proof (Candidate.source)


@dataclass(eq=False)
class Node:
    state: ProofState
    parent: Node | None
    tactic: str
    step_logprob: float  # the tactic's log-probability
    logprob: float  # cumulative: the path's sum
    depth: int
    source: str = ""
    is_expanded: bool = False

    def score(self, length_normalize: bool) -> float:
        if length_normalize and self.depth:
            return self.logprob / self.depth
        return self.logprob

    def path(self) -> tuple[str, ...]:
        return tuple(tactic for _, tactic in self.trajectory())

    def sources(self) -> tuple[str, ...]:
        out: list[str] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            out.append(node.source)
            node = node.parent
        return tuple(reversed(out))

    def trajectory(self) -> tuple[tuple[str, str], ...]:
        """(parent's state text, tactic) for each step from the root to this node."""
        out: list[tuple[str, str]] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            out.append((node.parent.state.text, node.tactic))
            node = node.parent
        return tuple(reversed(out))


class SearchTree:
    """Nodes by goal text plus the priority frontier."""

    def __init__(self, root: ProofState, length_normalize: bool) -> None:
        self.length_normalize = length_normalize
        self.root = Node(root, None, "", 0.0, 0.0, 0)
        self.nodes: dict[str, Node] = {root.text: self.root}
        self._frontier: list[tuple[float, int, Node]] = []
        self._counter = itertools.count()
        self._push(self.root)

    def _push(self, node: Node) -> None:
        heapq.heappush(
            self._frontier, (-node.score(self.length_normalize), next(self._counter), node)
        )

    def pop(self) -> Node | None:
        while self._frontier:
            _, _, node = heapq.heappop(self._frontier)
            if not node.is_expanded:
                return node
        return None

    def add(
        self, parent: Node, tactic: str, logprob: float, state: ProofState, source: str = ""
    ) -> Node | None:
        """Add a child unless its goal text was seen already; returns the new node."""
        if state.text in self.nodes:
            return None
        node = Node(
            state, parent, tactic, logprob, parent.logprob + logprob, parent.depth + 1, source
        )
        self.nodes[state.text] = node
        self._push(node)
        return node

    def check_invariants(self) -> None:
        """Raise `SearchInvariantError` unless every invariant of the module docstring holds."""
        for text, node in self.nodes.items():
            _require(node.state.text == text, f"node for {text!r} filed under another text")
            if node is self.root:
                _require(node.parent is None, "the root has a parent")
                _require(node.depth == 0 and node.logprob == 0.0, "the root's depth or score")
                continue
            parent = node.parent
            if parent is None:
                raise SearchInvariantError(f"node {text!r} has no parent")
            _require(self.nodes.get(parent.state.text) is parent, "parent not in the tree")
            _require(parent.is_expanded, f"child {text!r} of an unexpanded node")
            _require(node.depth == parent.depth + 1, f"depth of {text!r} is not parent's + 1")
            _require(node.step_logprob <= 0.0, f"tactic to {text!r} has a positive log-prob")
            _require(
                abs(node.logprob - (parent.logprob + node.step_logprob)) <= 1e-9,
                f"score of {text!r} is not its parent's + its tactic's log-probability",
            )
        for _, _, node in self._frontier:
            _require(self.nodes.get(node.state.text) is node, "frontier node not in the tree")
            _require(not node.is_expanded, f"expanded node {node.state.text!r} in the frontier")


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise SearchInvariantError(what)


def best_first_search(
    env: ProofEnv,
    policy: TacticPolicy,
    root: ProofState,
    config: SearchConfig,
    on_outcome: OutcomeHook | None = None,
) -> SearchResult:
    """Search for a proof of `root`; the proof still needs `env.verify` before it counts."""
    t_start = time.perf_counter()
    policy.begin(root)
    tree = SearchTree(root, config.length_normalize)
    policy_s = env_s = 0.0
    expansions = calls = 0
    counts = {"progress": 0, "proved": 0, "failed": 0, "timeout": 0, "duplicate": 0}

    def result(
        status: Status,
        proof: tuple[str, ...] = (),
        trajectory: tuple[tuple[str, str], ...] = (),
        sources: tuple[str, ...] = (),
    ) -> SearchResult:
        if config.debug:
            tree.check_invariants()  # the tree as search leaves it, too
        total = time.perf_counter() - t_start
        return SearchResult(
            status,
            proof,
            expansions,
            calls,
            policy_s,
            env_s,
            total - policy_s - env_s,
            counts,
            trajectory,
            sources,
        )

    def out_of_time() -> bool:
        return time.perf_counter() - t_start > config.time_limit_s

    while True:
        if out_of_time() or expansions >= config.max_expansions:
            return result(Status.BUDGET)
        batch: list[Node] = []
        while len(batch) < min(config.expand_batch, config.max_expansions - expansions):
            node = tree.pop()
            if node is None:
                break
            node.is_expanded = True  # taken off the frontier
            batch.append(node)
        if not batch:
            return result(Status.FAILED)
        t0 = time.perf_counter()
        proposals = policy.propose_batch([n.state for n in batch])
        policy_s += time.perf_counter() - t0
        for node, candidates in zip(batch, proposals, strict=True):
            expansions += 1
            for cand in candidates:
                if calls >= config.max_tactic_calls or out_of_time():
                    return result(Status.BUDGET)
                t0 = time.perf_counter()
                if cand.timeout_s is None:
                    out = env.step(node.state, cand.tactic)
                else:  # its own limit, but never past the search's budget
                    left = config.time_limit_s - (time.perf_counter() - t_start)
                    limit = max(0.5, min(cand.timeout_s, left))
                    out = env.step(node.state, cand.tactic, timeout_s=limit)
                dt = time.perf_counter() - t0
                env_s += dt
                calls += 1
                if on_outcome is not None:
                    on_outcome(node.state, cand.tactic, out, dt, cand.source)
                if isinstance(out, Proved):
                    counts["proved"] += 1
                    # the env may record a step as another tactic (CoqHammer's reconstruction):
                    # the steps take the proof's tactics whenever it has one per step
                    states = [s for s, _ in node.trajectory()] + [node.state.text]
                    tactics = (
                        out.proof if len(out.proof) == len(states) else (*node.path(), cand.tactic)
                    )
                    steps = tuple(zip(states, tactics, strict=True))
                    return result(Status.PROVED, out.proof, steps, (*node.sources(), cand.source))
                if isinstance(out, Progress):
                    added = tree.add(node, cand.tactic, cand.logprob, out.state, cand.source)
                    counts["progress" if added else "duplicate"] += 1
                elif isinstance(out, TimedOut):
                    counts["timeout"] += 1
                elif isinstance(out, Failed):
                    counts["failed"] += 1
            if config.debug:
                tree.check_invariants()
