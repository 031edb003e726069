"""A stand-in for `lake exe repl` that replays a recorded transcript (tests only).

Usage: fake_repl.py TRANSCRIPT.json POSITION_FILE
Each request (a JSON object followed by a blank line) must equal the next transcript entry's
"send"; the fake answers with its "recv" (JSON and a blank line). "recv": "__hang__" never
answers (a tactic that runs forever); "recv": "__exit__" exits (a crash). The position is kept
in POSITION_FILE so a restarted process continues the transcript. An entry may name the
process that must receive it, "process": k, counting the processes started so far from 0
(kept in POSITION_FILE.starts): how a transcript says that a request went to a fresh process
(the axiom audit) and not to the one that ran the checked file.
"""

import json
import sys
import time
from pathlib import Path

transcript = json.loads(Path(sys.argv[1]).read_text())
pos_file = Path(sys.argv[2])
starts_file = pos_file.with_name(pos_file.name + ".starts")
me = int(starts_file.read_text()) if starts_file.exists() else 0
starts_file.write_text(str(me + 1))
buf = ""
for line in sys.stdin:
    if line.strip():
        buf += line
        continue
    if not buf.strip():
        continue
    request, buf = json.loads(buf), ""
    pos = int(pos_file.read_text()) if pos_file.exists() else 0
    pos_file.write_text(str(pos + 1))
    entry = transcript[pos] if pos < len(transcript) else None
    if entry is None or entry["send"] != request or entry.get("process", me) != me:
        expected = None if entry is None else (entry.get("process", me), entry["send"])
        sys.stdout.write(
            json.dumps({"message": f"fake REPL: process {me} got {request}, expected {expected}"})
            + "\n\n"
        )
        sys.stdout.flush()
        sys.exit(3)
    recv = entry["recv"]
    if recv == "__hang__":
        time.sleep(3600)
    if recv == "__exit__":
        sys.exit(1)
    sys.stdout.write(json.dumps(recv, ensure_ascii=False) + "\n\n")
    sys.stdout.flush()
