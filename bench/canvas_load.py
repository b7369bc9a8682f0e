"""The canvas under load: time to interactive and frame times in headless Chromium.

Runs canvas/bench/canvas_load.mjs (Node, Playwright, Debian's Chromium): the built canvas
(canvas/dist, `make canvas`) with N synthetic workspaces on the chart while status events
arrive over a routed /ws at R per second, after the same page with an empty org as the
reference. It measures the page alone; no platform is started (bench/scale.py and
bench/fanout.py measure the platform's side of a large org).

    .venv/bin/python bench/canvas_load.py [--workspaces 500] [--rate 100] [--seconds 5]

Exit status: 0 when the run was valid (targets met or not), 2 when it could not run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

CANVAS = Path(__file__).resolve().parent.parent / "canvas"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=500)
    parser.add_argument("--rate", type=int, default=100, help="status events per second")
    parser.add_argument("--seconds", type=int, default=5, help="frame-time window")
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None or not (CANVAS / "node_modules").is_dir():
        print("needs Node.js and canvas/node_modules: run `make canvas` first", file=sys.stderr)
        return 2
    if not (CANVAS / "dist" / "index.html").is_file():
        print("canvas/dist is missing: run `make canvas` first", file=sys.stderr)
        return 2
    command = [node, "bench/canvas_load.mjs", "--workspaces", str(args.workspaces)]
    command += ["--rate", str(args.rate), "--seconds", str(args.seconds)]
    done = subprocess.run(command, cwd=CANVAS, check=False)
    return 0 if done.returncode == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
