"""``python tools/bench_deploy.py``: the documented command; the benchmark lives in ``tools/bench/deploy.py``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from the checkout

from tools.bench.deploy import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
