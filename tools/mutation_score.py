"""Mutation score of the last ``mutmut run`` (``make mutate``), per mutated file.

Reads mutmut's per-file results (``mutants/<path>.meta``) and the list of mutants judged
equivalent (``tools/equivalent_mutants.txt``: one mutant name per line, ``#`` starts the
reason). Prints, per file, the killed / survived / equivalent / other counts and the score
= killed / (checked - equivalent), and lists the surviving mutants nobody has judged yet
(``mutmut show NAME`` prints a mutant's diff). Exits 1 when the score of any file is below
``--target`` (default 0.90). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

KILLED = {1, 3}  # a failing test, or pytest's internal error
SURVIVED = {0}
TIMEOUT = {24, -24, 36, 152, 255}


def read_equivalent(path: pathlib.Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        name, _, reason = line.partition("#")
        if name.strip():
            out[name.strip()] = reason.strip()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", default="mutants", help="mutmut's work folder")
    parser.add_argument("--equivalent", default="tools/equivalent_mutants.txt")
    parser.add_argument("--target", type=float, default=0.90)
    args = parser.parse_args(argv)
    equivalent = read_equivalent(pathlib.Path(args.equivalent))
    metas = sorted(pathlib.Path(args.mutants).rglob("*.py.meta"))
    if not metas:
        print(f"no mutmut results under {args.mutants}/: run `make mutate` first")
        return 1
    seen, unjudged, failing = set(), [], []
    print("| file | mutants | killed | timeout | survived | equivalent | no tests/other | score |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for meta in metas:
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        checked = {k: c for k, c in codes.items() if c is not None}
        if not checked:
            continue
        killed = sum(c in KILLED for c in checked.values())
        timeout = sum(c in TIMEOUT for c in checked.values())
        survivors = [k for k, c in checked.items() if c in SURVIVED]
        equiv = [k for k in survivors if k in equivalent]
        seen.update(k for k in codes if k in equivalent)
        unjudged += [k for k in survivors if k not in equivalent]
        other = len(checked) - killed - timeout - len(survivors)
        # Timeouts count as kills (the mutant made a test hang), as mutmut does.
        score = (killed + timeout) / max(len(checked) - len(equiv), 1)
        name = str(meta.relative_to(args.mutants))[: -len(".meta")]
        if score < args.target:
            failing.append(name)
        print(f"| {name} | {len(checked)} | {killed} | {timeout} | {len(survivors)} | "
              f"{len(equiv)} | {other} | {score:.1%} |")  # fmt: skip
    stale = sorted(set(equivalent) - seen)
    if stale:
        print(f"\n{len(stale)} listed equivalent mutants no longer exist (renumbered?): "
              + ", ".join(stale))  # fmt: skip
    if unjudged:
        print(f"\n{len(unjudged)} surviving mutants not judged equivalent:")
        for name in unjudged:
            print(f"  {name}")
    if failing:
        print(f"\nbelow the {args.target:.0%} target: {', '.join(failing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
