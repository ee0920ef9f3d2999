"""``python -m benchmarks.run`` in a checkout = ``hand3d-benchmark`` (hand3d_tf/harness/cli.py).

The harness lives in the installed package (hand3d_tf.harness), so a device runs it after
``pip install hand3d_tf`` with no checkout; this entry point stays for existing scripts.
"""

import sys

from hand3d_tf.harness.cli import benchmark_main

if __name__ == "__main__":
    sys.exit(benchmark_main())
