"""Regenerate tests/data/golden.json: only together with a documented stream-version bump."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import fastinit  # noqa: E402
from golden_cases import cases, digest  # noqa: E402

table = {"stream_version": fastinit.STREAM_VERSION, "sha256": {cid: digest(make()) for cid, make in cases()}}
path = os.path.join(HERE, "..", "tests", "data", "golden.json")
with open(path, "w") as f:
    json.dump(table, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {len(table['sha256'])} digests to {os.path.normpath(path)}")
