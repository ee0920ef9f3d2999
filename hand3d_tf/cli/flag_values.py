"""Reading absl flags that several CLI modules define under the same name.

Each CLI defines its flags at import time with ``allow_override=True`` so that tests can
import several CLIs into one process; the last definition of a shared name (``input_size``,
``weights``, ``output_dir``, ...) then owns its type and default. A CLI therefore reads a
shared flag with ``given(name, default)`` (its own default unless the user gave the flag)
and parses sizes with ``parse_hw`` (accepts ``240x320``, ``240,320`` or ``['240', '320']``).
"""

from __future__ import annotations

import re

from absl import flags


def given(name: str, default):
    """The flag's value if it was given on the command line, else this CLI's ``default``."""
    flag = flags.FLAGS[name]
    return flag.value if flag.present else default


def parse_hw(value, name: str = "--input_size") -> tuple[int, int]:
    """``"240x320"``, ``"240,320"`` or ``["240", "320"]`` -> (240, 320); ValueError otherwise."""
    parts = list(value) if isinstance(value, (list, tuple)) else re.split(r"[x,]", str(value))
    try:
        height, width = (int(str(p).strip()) for p in parts)
    except ValueError:
        raise ValueError(f"{name} must be HxW (e.g. 240x320); received {value!r}") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"{name} must be positive; received {value!r}")
    return height, width
