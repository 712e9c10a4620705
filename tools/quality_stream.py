#!/usr/bin/env python3
"""Write fastinit.random_bits_ output to stdout as raw 32-bit words, for dieharder.

Usage (the stream is endless unless --words is given):

    python tools/quality_stream.py seed S            # stream 0 of seed S, words 0, 1, 2, ...
    python tools/quality_stream.py streams S [K]     # word i of streams 0..K-1 of seed S, interleaved
    python tools/quality_stream.py seeds S [K]       # word i of stream 0 of seeds S..S+K-1, interleaved

``streams`` and ``seeds`` put word i of neighbouring streams (seeds) next to
each other in the output: w_0(i), w_1(i), ..., w_{K-1}(i), w_0(i+1), ... so a
test of neighbouring words is a test of neighbouring streams (seeds). K
defaults to 2. Words are written in native (little-endian) byte order, which
is what dieharder's stdin_input_raw generator (-g 200) reads.

Output goes out in chunks of 2**22 words per stream (advancing ``offset``).
When the reader closes the pipe (dieharder is done) the script exits quietly
with status 0.
"""
import argparse
import os
import sys

import numpy as np

import fastinit

CHUNK = 1 << 22


def chunks(mode, seed, k, chunk=CHUNK):
    """Yield successive uint32 arrays of the requested stream layout, forever."""
    if mode == "seed":
        k = 1
    bufs = [np.empty(chunk, np.uint32) for _ in range(k)]
    out = np.empty((chunk, k), np.uint32)
    offset = 0
    while True:
        for j, b in enumerate(bufs):
            if mode == "seeds":
                fastinit.random_bits_(b, seed=(seed + j) % (1 << 64), stream=0, offset=offset)
            else:
                fastinit.random_bits_(b, seed=seed, stream=j, offset=offset)
        if k == 1:
            yield bufs[0]
        else:
            for j, b in enumerate(bufs):
                out[:, j] = b
            yield out.reshape(-1)
        offset += chunk


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["seed", "streams", "seeds"])
    p.add_argument("seed", type=int, help="seed (first seed for 'seeds'), in [0, 2**64)")
    p.add_argument("k", type=int, nargs="?", default=2, help="number of interleaved streams/seeds (default 2)")
    p.add_argument("--words", type=int, default=None, help="stop after this many words (default: endless)")
    args = p.parse_args(argv)
    if not 0 <= args.seed < (1 << 64):
        p.error("seed must be in [0, 2**64)")
    if args.k < 1:
        p.error("k must be >= 1")
    out = sys.stdout.buffer
    left = args.words
    try:
        for block in chunks(args.mode, args.seed, args.k):
            if left is not None:
                if left <= 0:
                    break
                block = block[:left]
                left -= block.size
            out.write(memoryview(block).cast("B"))
        out.flush()
    except BrokenPipeError:
        # The reader is done. Point stdout at /dev/null so that the interpreter's
        # final flush does not raise again, and exit cleanly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
