#!/usr/bin/env python3
"""Draws the fictional Anytown Borough Council crest (demo/media/anytown-logo.png) with the
standard library only: a navy shield with two rings and a diagonal river. Run from the repo root:
python3 demo/media/make_logo.py"""
import math, struct, zlib

W = H = 160
NAVY, GOLD, WHITE, RIVER = (11, 34, 57), (212, 160, 23), (255, 255, 255), (64, 140, 200)

def pixel(x, y):
    # Shield: a rectangle with a rounded bottom.
    cx = W / 2
    inside = 16 <= x < W - 16 and 12 <= y < 100 or (y >= 100 and math.hypot(x - cx, y - 100) < cx - 16)
    if not inside:
        return WHITE
    d = math.hypot(x - cx, y - 70)
    if 34 <= d <= 42 or 18 <= d <= 24:
        return GOLD
    if abs((x - 16) - (y - 12) * 0.9) < 7:
        return RIVER
    return NAVY

rows = b"".join(b"\x00" + bytes(c for x in range(W) for c in pixel(x, y)) for y in range(H))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
open("demo/media/anytown-logo.png", "wb").write(png)
