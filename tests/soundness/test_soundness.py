"""Attacks on `springtail check` and `springtail prove`, kept as files, and valid files that
must keep passing. Each file states what it tests in its first comment:

    (* attack: <what it tries> | false: NAME ... [| exit: 2] *)
        check must exit 1 (or the given code) and never report NAME as proved.
    (* valid: <what it shows> | proved: NAME ... *)
        check must exit 0 and report each NAME as proved.
    (* prove: <what it tries> | theorem: NAME [| policy: portfolio|hammer] *)
        prove must not report NAME as proved, though the policy can reach the hole, and
        must write nothing into the case's folder.

A case is a `.v` file, or a folder whose `Main.v` is checked after the files named by a
`build:` field (e.g. `| build: Dep.v`) are compiled with coqc, in order; a `_CoqProject`
there applies; a `plugin:` field (`| plugin: announce.ml=.coq-native/NDep.cmxs`) first builds
an OCaml plugin the attack tries to load, from `plugins/` here (ocamlfind comes with Debian's
coq); a `swap:` field
(`| swap: Dep.v=Clean.txt`) then replaces a built file's source by another text, leaving the
compiled file newer (an attacker's shipped build). Every case runs on a copy in a temporary
folder, where `@CASE@` in a .v file stands for that folder's absolute path.

Run: pytest tests/soundness   (needs Coq 8.16)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from prover.cli import main

HERE = Path(__file__).parent
_HEADER_RE = re.compile(r"^\(\*\s*(?P<body>.*?)\s*\*\)", re.S)


@dataclass(frozen=True)
class Case:
    path: Path  # the .v file, or the folder
    fields: dict[str, str]

    @property
    def main(self) -> str:
        return "Main.v" if self.path.is_dir() else self.path.name

    def names(self, key: str) -> list[str]:
        return self.fields.get(key, "").split()


def load_case(path: Path) -> Case:
    main_file = path / "Main.v" if path.is_dir() else path
    m = _HEADER_RE.match(main_file.read_text(encoding="utf-8-sig"))
    assert m, f"{main_file}: no header comment"
    fields = {}
    for part in m["body"].split("|"):
        key, _, value = part.partition(":")
        fields[key.strip()] = value.strip()
    return Case(path, fields)


def cases(kind: str) -> list[Case]:
    folder = HERE / kind
    return [load_case(p) for p in sorted(folder.iterdir()) if p.suffix == ".v" or p.is_dir()]


def _ids(items: list[Case]) -> list[str]:
    return [c.path.stem for c in items]


def stage(case: Case, tmp_path: Path) -> Path:
    """Copy the case to `tmp_path`, compile its `build:` files; the file to check."""
    work = tmp_path / "case"
    if case.path.is_dir():
        shutil.copytree(case.path, work)
    else:
        work.mkdir()
        shutil.copy(case.path, work / case.path.name)
    for v in work.rglob("*.v"):
        v.write_text(
            v.read_text(encoding="utf-8", errors="surrogateescape").replace("@CASE@", str(work)),
            encoding="utf-8",
            errors="surrogateescape",
        )
    flags = ["-Q", ".", ""]
    if (work / "_CoqProject").is_file():
        flags = (work / "_CoqProject").read_text().split()
        flags = [f for f in flags if not f.endswith(".v")]
    for spec in case.names("plugin"):
        source, _, target = spec.partition("=")
        (work / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "plugins" / source, work / source)  # its build files land there
        cmd = ["ocamlfind", "ocamlopt", "-shared", "-o", target, source]
        subprocess.run(cmd, cwd=work, check=True, capture_output=True)
    for dep in case.names("build"):
        subprocess.run(["coqc", "-q", *flags, dep], cwd=work, check=True, capture_output=True)
    for spec in case.names("swap"):
        source, _, text = spec.partition("=")
        shutil.copy(work / text, work / source)
        built = (work / source).with_suffix(".vo")
        later = (work / source).stat().st_mtime + 10
        os.utime(built, (later, later))
    return work / case.main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _proved(rows: list[dict], name: str) -> bool:
    return any(
        r["proved"] and (r["qualified_name"] == name or r["qualified_name"].endswith("." + name))
        for r in rows
    )


@pytest.mark.parametrize("case", cases("attacks"), ids=_ids(cases("attacks")))
def test_attack_is_refused(case: Case, capsys, tmp_path: Path, coq_installed: None) -> None:
    file = stage(case, tmp_path)
    extra = case.fields.get("args", "").split()
    code, out, err = run(capsys, "check", str(file), *extra)
    expected = int(case.fields.get("exit", "1"))
    assert code == expected, (out, err)
    assert "Traceback" not in err
    for name in case.names("false"):
        assert not re.search(rf"^PROVED (\S+\.)?{re.escape(name)}\b", out, re.M), out
    if expected == 1:
        code, out, _ = run(capsys, "check", str(file), "--json", *extra)
        rows = json.loads(out)
        for name in case.names("false"):
            assert not _proved(rows, name), rows
        assert not all(r["proved"] for r in rows)


@pytest.mark.parametrize("case", cases("valid"), ids=_ids(cases("valid")))
def test_valid_file_is_proved(case: Case, capsys, tmp_path: Path, coq_installed: None) -> None:
    file = stage(case, tmp_path)
    before = sorted(p.name for p in file.parent.iterdir())
    extra = case.fields.get("args", "").split()
    code, out, err = run(capsys, "check", str(file), "--json", *extra)
    rows = json.loads(out) if out.strip().startswith("[") else []
    assert code == 0, (out, err)
    for name in case.names("proved"):
        assert _proved(rows, name), (name, rows)
    assert sorted(p.name for p in file.parent.iterdir()) == before  # nothing written there


@pytest.mark.parametrize("case", cases("prove"), ids=_ids(cases("prove")))
def test_prove_cannot_go_through_the_hole(
    case: Case, capsys, tmp_path: Path, coq_installed: None
) -> None:
    file = stage(case, tmp_path)
    theorem = case.fields["theorem"]
    policy = case.fields.get("policy", "portfolio")
    argv = ["prove", "--file", str(file), "--theorem", theorem, "--policy", policy]
    before = sorted(p.name for p in file.parent.iterdir())
    code, out, err = run(capsys, *argv, "--timeout", "20", "--json", str(tmp_path / "r.json"))
    assert sorted(p.name for p in file.parent.iterdir()) == before  # nothing written there
    assert code == 1, (out, err)
    assert "NOT PROVED" in out and not re.search(r"^PROVED", out, re.M)
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["proved"] is False
