"""Every hand3d CLI is thin: no flags at import, a real --help, one-line user errors.

Each CLI's own success and user-error runs (in a subprocess) live with its library's tests;
this file checks what all of them share.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
CLI_DIR = REPO / "hand3d_tf" / "cli"
HELPERS = {"__init__", "app", "errors", "shared_flags"}
TOOLS = sorted(p.stem for p in CLI_DIR.glob("*.py") if p.stem not in HELPERS)
SCRIPTS = re.findall(
    r'"(hand3d-[a-z-]+)=hand3d_tf\.cli\.(\w+):run"', (REPO / "setup.py").read_text()
)


def _help(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120)


def test_every_tool_is_listed():
    assert len(TOOLS) >= 9
    assert {module for _, module in SCRIPTS} <= set(TOOLS)


@pytest.mark.parametrize("tool", TOOLS)
def test_help_shows_description_example_and_flags(tool):
    prog = "hand3d-" + tool.replace("_", "-")
    out = _help([sys.executable, "-m", f"hand3d_tf.cli.{tool}"])
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith(f"{prog}: "), text[:200]  # the one-line description
    assert "Example" in text and f"{prog} --" in text.split("Flags of")[0]
    flags_part = text.split(f"Flags of {prog}:", 1)[1]
    assert re.search(r"^  --\w+", flags_part, re.MULTILINE), flags_part[:300]
    assert "Try --helpfull" not in text and "(none)" not in flags_part
    assert out.stderr == ""


def test_console_script_help_is_the_same_as_the_module_help():
    # Under a console script absl's own --help reads the wrapper's docstring: ours must not.
    script = pathlib.Path(sys.executable).parent / "hand3d-predict"
    if not script.exists():
        pytest.skip("hand3d_tf is not installed as a distribution here")
    by_script = _help([str(script)])
    by_module = _help([sys.executable, "-m", "hand3d_tf.cli.predict"])
    assert by_script.returncode == 0 and by_script.stdout == by_module.stdout
    assert "--image" in by_script.stdout


def test_importing_every_cli_defines_no_flag():
    code = (
        "from absl import app, flags, logging; before = set(flags.FLAGS); "  # absl's own flags
        + "; ".join(f"import hand3d_tf.cli.{t}" for t in TOOLS)
        + "; print(sorted(set(flags.FLAGS) - before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_allow_override_anywhere():
    hits = [str(p) for p in (REPO / "hand3d_tf").rglob("*.py") if "allow_override" in p.read_text()]
    hits += [
        str(p) for p in (REPO / "benchmarks").rglob("*.py") if "allow_override" in p.read_text()
    ]
    assert hits == []


def test_shared_flags_define_exactly_their_names():
    code = (
        "from absl import flags; from hand3d_tf.cli import shared_flags as sf; "
        "before = set(flags.FLAGS); [getattr(sf, d)('m') for d in sf.DEFINERS]; "
        "print(sorted(set(flags.FLAGS) - before) == sorted(sf.SHARED_NAMES))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


def test_flag_names_shared_by_tools_have_one_definition():
    # A flag several tools take is defined in shared_flags, never in a tool module.
    from hand3d_tf.cli.shared_flags import SHARED_NAMES

    own: dict[str, list[str]] = {}
    for tool in TOOLS:
        text = (CLI_DIR / f"{tool}.py").read_text()
        for name in re.findall(r'flags\.DEFINE_\w+\(\s*"(\w+)"', text):
            own.setdefault(name, []).append(tool)
    twice = {name: tools for name, tools in own.items() if len(tools) > 1 or name in SHARED_NAMES}
    assert twice == {}


def test_filtered_stderr_drops_only_the_known_noise():
    code = (
        "import os, re, sys; from hand3d_tf.quiet import filtered_stderr\n"
        "with filtered_stderr(re.compile('^NOISE')):\n"
        "    os.write(2, b'NOISE one\\nkept line\\nNOISE two\\n')\n"
        "print('done')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "done\n"
    assert out.stderr == "kept line\n"
