"""``python -m benchmarks.android`` in a checkout = ``hand3d-benchmark-android``
(hand3d_tf/harness/cli.py)."""

import sys

from hand3d_tf.harness.cli import android_main

if __name__ == "__main__":
    sys.exit(android_main())
