#!/usr/bin/python3
"""OpenCV's MOG2 background subtractor as the motion detector's peer.

Usage: /usr/bin/python3 mog2.py VIDEO.y4m|- CELL GRID_W GRID_H [MASKS|-]

Reads a Y4M stream (a file written by synth.WriteScene, or '-' for standard
input), runs cv2.createBackgroundSubtractorMOG2() with its defaults (history
500, varThreshold 16, shadow detection on) on each frame's luma plane, and
writes one grid mask per frame to MASKS (default '-', standard output):
GRID_W*GRID_H bytes, 255 where at least half of the CELLxCELL pixels of the
cell are foreground (255; shadows, 127, count as background), else 0. The
grid is the detector's analysis grid, anchored at the top left corner, so the
two are scored on the same cells. Each mask is flushed before the next frame
is read, so a caller can feed frames and read masks in lockstep.

At the end it prints one JSON line to standard error: frames, the mean
nanoseconds per frame spent in MOG2's apply() alone (not in reading or
downscaling), as wall time and as the thread's CPU time, the OpenCV version
and the thread count. OpenCV runs on one
thread (cv2.setNumThreads(1)), as the Go detector does.

Needs Debian's python3-opencv; run it with /usr/bin/python3.
"""

import json
import sys
import time

import cv2
import numpy as np

MAX_DIM = 8192
MAX_LINE = 1024


def read_line(f):
    line = f.readline(MAX_LINE)
    if line and not line.endswith(b"\n"):
        raise ValueError("y4m: line too long")
    return line


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    src, cell, gw, gh = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    dst = sys.argv[5] if len(sys.argv) == 6 else "-"
    inp = sys.stdin.buffer if src == "-" else open(src, "rb")
    out = sys.stdout.buffer if dst == "-" else open(dst, "wb")

    header = read_line(inp).split()
    if not header or header[0] != b"YUV4MPEG2":
        raise ValueError("y4m: bad header")
    tags = {t[:1]: t[1:] for t in header[1:]}
    w, h = int(tags[b"W"]), int(tags[b"H"])
    if not (0 < w <= MAX_DIM and 0 < h <= MAX_DIM):
        raise ValueError("y4m: bad size")
    cs = tags.get(b"C", b"420")
    if cs.startswith(b"420"):
        size = w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)
    elif cs == b"422":
        size = w * h + 2 * ((w + 1) // 2) * h
    elif cs == b"mono":
        size = w * h
    else:
        raise ValueError("y4m: colorspace %r" % cs)
    if gw * cell > w or gh * cell > h:
        raise ValueError("grid larger than the picture")

    cv2.setNumThreads(1)
    mog = cv2.createBackgroundSubtractorMOG2()
    frames, busy, cpu = 0, 0, 0
    while True:
        line = read_line(inp)
        if not line:
            break
        if not line.startswith(b"FRAME"):
            raise ValueError("y4m: bad frame header")
        data = inp.read(size)
        if len(data) != size:
            raise ValueError("y4m: truncated frame")
        y = np.frombuffer(data, np.uint8, w * h).reshape(h, w)
        t, c = time.perf_counter_ns(), time.thread_time_ns()
        fg = mog.apply(y)
        busy += time.perf_counter_ns() - t
        cpu += time.thread_time_ns() - c
        moving = (fg[: gh * cell, : gw * cell] == 255).reshape(gh, cell, gw, cell)
        grid = moving.mean(axis=(1, 3)) >= 0.5
        out.write((grid.astype(np.uint8) * 255).tobytes())
        out.flush()
        frames += 1
    json.dump({"frames": frames, "ns_per_frame": busy / max(frames, 1),
               "cpu_ns_per_frame": cpu / max(frames, 1),
               "opencv": cv2.__version__, "threads": cv2.getNumThreads()}, sys.stderr)
    sys.stderr.write("\n")


if __name__ == "__main__":
    main()
