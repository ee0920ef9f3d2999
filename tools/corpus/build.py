"""Rebuild the real-photo corpus from tools/corpus/sources.json (docs/autolabel.md).

For each source: the repository at its pinned commit (a local git directory under --mirror
named ``<owner>+<name>``, else ``git clone`` from GitHub), the files matching its patterns
(every n-th, de-duplicated where the source holds augmented copies) extracted into
``<out>/raw/<name>/``, then ``hand3d-autolabel`` on them into ``<out>/<name>/<split>``
(training sources: ``training``; validation sources: ``evaluation``). Finally
``<out>/corpus.json`` records every source with its counts, commit and licence, and each
photo's path in its repository (labels.json in each labelled folder maps samples to them).

Example:
  python tools/corpus/build.py --out=/tmp/real --mirror=/work/.mirror
  python tools/corpus/build.py --out=/tmp/real --only=sign_digits --max_images=50
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def git_dir(
    repo: str, commit: str, mirror: pathlib.Path | None, cache: pathlib.Path
) -> pathlib.Path:
    """A git directory holding ``commit`` of ``repo``."""
    if mirror is not None:
        base = mirror / repo.replace("/", "+")
        for candidate in (base / "repo" / ".git", base / "repo", base):
            if (candidate / "objects").is_dir():
                return candidate
    target = cache / repo.replace("/", "+")
    if not target.exists():
        subprocess.run(["git", "clone", "--bare", "--filter=blob:none",
                        f"https://github.com/{repo}.git", str(target)], check=True)  # fmt: skip
    return target


def list_files(gd: pathlib.Path, commit: str, patterns: list[str]) -> list[str]:
    out = subprocess.run(["git", f"--git-dir={gd}", "ls-tree", "-r", "--name-only", commit],
                         check=True, capture_output=True, text=True).stdout.splitlines()  # fmt: skip
    return sorted(p for p in out if any(_matches(p, pat) for pat in patterns))


def _matches(path: str, pattern: str) -> bool:
    """Glob match where ``*`` never crosses a ``/`` (fnmatch's does)."""
    parts, pats = path.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pats))


def choose(files: list[str], every: int, dedupe_prefix: str | None) -> list[str]:
    if dedupe_prefix:
        seen, kept = set(), []
        for path in files:
            key = pathlib.PurePosixPath(path).name.split(dedupe_prefix)[0]
            if key not in seen:
                seen.add(key)
                kept.append(path)
        files = kept
    return files[::every]


def extract(gd: pathlib.Path, commit: str, paths: list[str], dest: pathlib.Path,
            keep_names: bool = False) -> int:  # fmt: skip
    dest.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(paths):
        # Flattened name: the position keeps the order; the repository path is in corpus.json.
        # Backgrounds keep their names so that each photo's .xml hand boxes stay beside it.
        base = pathlib.PurePosixPath(path).name
        name = base if keep_names else f"{i:05d}_{base}"
        target = dest / name
        if not target.exists():
            blob = subprocess.run(["git", f"--git-dir={gd}", "show", f"{commit}:{path}"],
                                  check=True, capture_output=True).stdout  # fmt: skip
            target.write_bytes(blob)
    return len(paths)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="corpus folder")
    parser.add_argument("--mirror", default=None, help="folder of local git snapshots")
    parser.add_argument("--sources", default=str(HERE / "sources.json"))
    parser.add_argument("--only", default="", help="comma-separated source names")
    parser.add_argument("--max_images", type=int, default=0, help="per source (0 = all)")
    parser.add_argument("--no_label", action="store_true", help="extract only")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument(
        "--composites",
        type=int,
        default=0,
        help="then write this many composites (keyed training hands on the "
        "background source's photos and on --synthetic renders) to <out>/composites",
    )
    parser.add_argument(
        "--synthetic", default=None, help="synthetic v2 dataset root for composites"
    )
    parser.add_argument("--composite_seed", type=int, default=0)
    args = parser.parse_args(argv)
    spec = json.loads(pathlib.Path(args.sources).read_text())
    out = pathlib.Path(args.out)
    mirror = pathlib.Path(args.mirror) if args.mirror else None
    only = {s for s in args.only.split(",") if s}
    record = {"sources": [], "sources_file_sha256": None}
    previous = out / "corpus.json"
    if previous.is_file():  # a run with --only updates its sources and keeps the others
        kept = json.loads(previous.read_text())["sources"]
        record["sources"] = [s for s in kept if not only or s["name"] not in only]
    from hand3d_tf.files import sha256_file

    record["sources_file_sha256"] = sha256_file(args.sources)
    for source in spec["sources"]:
        if only and source["name"] not in only:
            continue
        gd = git_dir(source["repo"], source["commit"], mirror, out / "git")
        files = choose(list_files(gd, source["commit"], source["patterns"]), source.get("every", 1),
                       source.get("dedupe_prefix"))  # fmt: skip
        if args.max_images:
            files = files[: args.max_images]
        raw = out / "raw" / source["name"]
        extract(gd, source["commit"], files, raw, keep_names=source["role"] == "backgrounds")
        if source["role"] == "backgrounds":
            print(f"{source['name']}: {len(files)} background files", flush=True)
            record["sources"].append(dict(source, files=len(files), repo_paths=files))
            continue
        split = "training" if source["role"] == "training" else "evaluation"
        entry = dict(source, files=len(files), split=split, repo_paths=files)
        print(f"{source['name']}: {len(files)} photos from {source['repo']}@{source['commit'][:8]}",
              flush=True)  # fmt: skip
        labels_file = out / source["name"] / split / "labels.json"
        if args.no_label and labels_file.is_file():  # labelled before: record what it kept
            labels = json.loads(labels_file.read_text())
            entry["labelled"] = labels["report"]["kept"]
            entry["summary"] = labels["summary"]
        if not args.no_label:
            cmd = [sys.executable, "-m", "hand3d_tf.cli.autolabel", f"--input={raw}",
                   f"--output_dir={out / source['name']}", f"--split={split}", "--noprogress"]  # fmt: skip
            if args.overwrite:
                cmd.append("--overwrite")
            subprocess.run(cmd, check=True)
            labels = json.loads((out / source["name"] / split / "labels.json").read_text())
            entry["labelled"] = labels["report"]["kept"]
            entry["summary"] = labels["summary"]
        record["sources"].append(entry)
    if args.composites:
        from hand3d_tf.data.composite import write_composites

        hands = [str(out / s["name"]) for s in spec["sources"] if s["role"] == "training"]
        backgrounds = [
            out / "raw" / s["name"] for s in spec["sources"] if s["role"] == "backgrounds"
        ]
        n = write_composites([h for h in hands if pathlib.Path(h, "training").is_dir()],
                             str(backgrounds[0]) if backgrounds else None, args.synthetic,
                             str(out / "composites"), args.composites, args.composite_seed)  # fmt: skip
        record["composites"] = {
            "count": n,
            "seed": args.composite_seed,
            "synthetic": args.synthetic,
        }
        print(f"composites: {n}", flush=True)
    order = [s["name"] for s in spec["sources"]]
    record["sources"].sort(
        key=lambda s: order.index(s["name"]) if s["name"] in order else len(order)
    )
    (out / "corpus.json").write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
