"""A stand-in for `lake exe repl` that replays a transcript (tests only).

Where the transcripts come from: none of the `tests/golden/lean_repl_*.in` transcripts was
recorded from a real REPL (no Lean toolchain was at hand when they were written). Every one is
hand-written from the REPL's documented JSON protocol (the README and `REPL/Main.lean` of
leanprover-community/repl) and Lean's message texts as its sources print them. They pin down
what Springtail sends and how it reads each answer; that a real REPL answers the same way is
checked only by the tests marked `lean`, which run where `lake` is installed.

Usage: fake_repl.py TRANSCRIPT.json POSITION_FILE SCRATCH_DIR
Each request (a JSON object followed by a blank line) must equal the next transcript entry's
"send"; the fake answers with its "recv" (JSON and a blank line). "recv": "__hang__" never
answers (a tactic that runs forever); "recv": "__exit__" exits (a crash). The position is kept
in POSITION_FILE so a restarted process continues the transcript. An entry may name the
process that must receive it, "process": k, counting the processes started so far from 0:
how a transcript says that a request went to a fresh process (the check, the audit) and not to
the one that steps through tactics. "task": true makes the fake start a child process before
answering: a task the checked file's `#eval` left running, which dies only with its process
group.

Pickles: a transcript writes "$PICKLE" for the path in `pickleTo` and `unpickleEnvFrom`. The
fake takes a `pickleTo` path only in a folder of its own directly under SCRATCH_DIR, with mode
0700 and no file in it, that did not exist when this process answered its last elaboration
(a command without "env"), and that no earlier pickle used; it then writes the pickle there.
It answers `unpickleEnvFrom` only for the latest pickle, unchanged, and only once the process
that wrote it and every task that process started are gone. Anything else is answered with a
"fake REPL: ..." message and the fake exits, so the test sees a mismatch.

Other state shared by the processes of one test lives in POSITION_FILE.state (JSON), read
afresh for every request: processes of one test take turns, never run requests at once.
"""

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

transcript = json.loads(Path(sys.argv[1]).read_text())
pos_file = Path(sys.argv[2])
scratch = Path(sys.argv[3]).resolve()
state_file = pos_file.with_name(pos_file.name + ".state")


def load() -> dict:
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    state.setdefault("pids", [])  # process k's pid
    state.setdefault("tasks", {})  # process k -> pids of the tasks it started
    state.setdefault("listings", {})  # process k -> SCRATCH_DIR's folders at its last elaboration
    state.setdefault("pickles", [])  # {"path", "writer", "content"}, oldest first
    return state


def save() -> None:
    state_file.write_text(json.dumps(state))


state = load()
me = len(state["pids"])
state["pids"].append(os.getpid())


def is_alive(pid: int) -> bool:
    """Whether `pid` runs (Linux: read from /proc; elsewhere every process counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X")  # a killed process waiting to be reaped is gone


def pickle_to_problem(path: str) -> str:
    file = Path(path)
    folder = file.parent
    if not file.is_absolute() or folder.parent.resolve() != scratch:
        return f"pickle {path} is not in a folder of its own under {scratch}"
    if folder.name in state["listings"].get(str(me), []):
        return f"pickle folder {folder} existed while the file was elaborated"
    if not folder.is_dir() or stat.S_IMODE(folder.stat().st_mode) != 0o700:
        return f"pickle folder {folder} is missing or not private (mode 0700)"
    if any(folder.iterdir()):
        return f"pickle folder {folder} is not empty"
    if any(Path(p["path"]).parent == folder for p in state["pickles"]):
        return f"pickle folder {folder} was used before"
    return ""


def unpickle_problem(path: str) -> str:
    latest = state["pickles"][-1] if state["pickles"] else None
    if latest is None or latest["path"] != path:
        return f"{path} is not the latest pickle"
    file = Path(path)
    if not file.is_file() or file.read_text() != latest["content"]:
        return f"the pickle {path} was changed or removed before the audit read it"
    writer = latest["writer"]
    running = [state["pids"][writer], *state["tasks"].get(str(writer), [])]
    if any(is_alive(pid) for pid in running):
        return f"process {writer}, which wrote the pickle, or a task it started still runs"
    return ""


def mismatch(entry: dict | None, request: dict) -> str:
    if entry is None:
        return f"got {request}, expected nothing more"
    if entry.get("process", me) != me:
        return f"got {request}, meant for process {entry['process']}"
    expected = dict(entry["send"])
    for key, check in (("pickleTo", pickle_to_problem), ("unpickleEnvFrom", unpickle_problem)):
        if expected.get(key) == "$PICKLE" and isinstance(request.get(key), str):
            problem = check(request[key])
            if problem:
                return problem
            expected[key] = request[key]
    return "" if expected == request else f"got {request}, expected {entry['send']}"


def answer(entry: dict, request: dict) -> None:
    if entry.get("task"):
        task = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        state["tasks"].setdefault(str(me), []).append(task.pid)
    recv = entry["recv"]
    if "pickleTo" in request and isinstance(recv, dict) and "env" in recv:
        content = f"the environment {request['env']}, pickled by process {me}"
        Path(request["pickleTo"]).write_text(content)
        state["pickles"].append({"path": request["pickleTo"], "writer": me, "content": content})
    if "cmd" in request and "env" not in request:
        folders = sorted(p.name for p in scratch.iterdir()) if scratch.is_dir() else []
        state["listings"][str(me)] = folders
    save()
    if recv == "__hang__":
        time.sleep(3600)
    if recv == "__exit__":
        sys.exit(1)
    sys.stdout.write(json.dumps(recv, ensure_ascii=False) + "\n\n")
    sys.stdout.flush()


save()
buf = ""
for line in sys.stdin:
    if line.strip():
        buf += line
        continue
    if not buf.strip():
        continue
    request, buf = json.loads(buf), ""
    state = load()
    pos = int(pos_file.read_text()) if pos_file.exists() else 0
    pos_file.write_text(str(pos + 1))
    entry = transcript[pos] if pos < len(transcript) else None
    problem = mismatch(entry, request)
    if problem:
        sys.stdout.write(json.dumps({"message": f"fake REPL: process {me}: {problem}"}) + "\n\n")
        sys.stdout.flush()
        sys.exit(3)
    assert entry is not None
    answer(entry, request)
