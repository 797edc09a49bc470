#!/usr/bin/env python3
"""pack_lane.py DIR OUT: a solution.json from a lane test folder of
tests/gpu/lanes/ (spec.json: the solution without sources; every other file
beside it becomes a source, sorted by name). `kf pack` takes only CUDA
sources (.cu, .cuh, .h) from a kernel directory, and these folders hold
Python too. Used by tests/gpu/test_lanes.sh, tests/gpu/test_stack.py and
bench/fib_parity/run.sh."""
import json
import os
import sys


def pack(d):
    sol = json.load(open(os.path.join(d, "spec.json")))
    sol["sources"] = [{"path": f, "content": open(os.path.join(d, f)).read()}
                      for f in sorted(os.listdir(d)) if f != "spec.json"]
    return sol


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: pack_lane.py DIR OUT")
    json.dump(pack(sys.argv[1]), open(sys.argv[2], "w"), indent=1)
