"""``python -m benchmarks.trtexec`` in a checkout = ``hand3d-benchmark-trtexec``
(hand3d_tf/harness/cli.py)."""

import sys

from hand3d_tf.harness.cli import trtexec_main

if __name__ == "__main__":
    sys.exit(trtexec_main())
