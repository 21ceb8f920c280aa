#!/bin/sh
# Regenerates the JPEG fixtures of jpegdc_test.go (committed; run by hand).
# Needs Debian's python3-opencv (/usr/bin/python3) and ffmpeg. The picture is
# 72x40 (not a multiple of the 16x16 MCU) with gradients and sharp shapes.
set -eu
cd "$(dirname "$0")"
/usr/bin/python3 - <<'PY'
import numpy as np, cv2
h, w = 40, 72
y, x = np.mgrid[0:h, 0:w]
img = np.zeros((h, w, 3), np.uint8)
img[..., 0] = (x * 255 // (w - 1)).astype(np.uint8)
img[..., 1] = (y * 255 // (h - 1)).astype(np.uint8)
img[..., 2] = ((x + y) * 3 % 256).astype(np.uint8)
img[8:20, 10:30] = (250, 250, 250)
img[22:36, 40:60] = (10, 30, 200)
cv2.imwrite("src.png", img)
cv2.imwrite("rst420.jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_RST_INTERVAL, 2])
cv2.imwrite("grey_rst.jpg", cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_RST_INTERVAL, 3])
cv2.imwrite("progressive.jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
PY
for fmt in yuvj422p yuvj444p; do
	ffmpeg -loglevel error -y -i src.png -pix_fmt $fmt -q:v 3 "$fmt.jpg"
done
rm src.png
