"""Filter known start-up chatter of native libraries out of stderr, pass every other line.

TensorFlow's and LiteRT's C++ start-up messages are written straight to file descriptor 2
(before, or outside, any Python logging), so the only way to drop them is to capture the
descriptor while the library starts and replay the lines that are not known noise.
``HAND3D_VERBOSE_STARTUP=1`` turns the filtering off. No TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

# LiteRT announces its default CPU delegate once per process.
LITERT_NOISE = re.compile(r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$")


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern):
    """Capture fd 2 inside the block; afterwards replay the lines ``noise`` does not match."""
    if os.environ.get("HAND3D_VERBOSE_STARTUP"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not noise.search(line):
                    print(line, file=sys.stderr)
