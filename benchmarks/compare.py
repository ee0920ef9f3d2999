"""``python -m benchmarks.compare`` in a checkout = ``hand3d-benchmark-compare``
(hand3d_tf/harness/cli.py)."""

import sys

from hand3d_tf.harness.cli import compare_main

if __name__ == "__main__":
    sys.exit(compare_main())
