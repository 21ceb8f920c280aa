// Package motion finds motion in camera frames, cheaply enough to run on every
// frame of an embedded camera, and turns it into events.
//
// It exists because the agent records and uploads only what happens: the
// detector decides when a clip starts and ends.
//
// # Input
//
// The detector works on luma only:
//
//   - YUYV, NV12 and GREY frames are read in place (every other byte of YUYV,
//     the Y plane of NV12), honouring the stride.
//   - MJPEG frames are not decoded: a DC-only path walks the baseline Huffman
//     stream and keeps each 8x8 luma block's mean, a 1/8-scale luma picture,
//     skipping IDCT, chroma and colour conversion (about 14 times faster than
//     image/jpeg, without allocating). It handles restart intervals, 4:2:0,
//     4:2:2 and 4:4:4 sampling, grey JPEGs and frames without Huffman tables
//     (the Annex K defaults MJPEG cameras rely on). Because a cell is then at
//     least one 8x8 block, the grid from MJPEG is at most width/8 cells wide
//     (80x60 at 640x480).
//   - Limits: a picture of at most 8192x8192 pixels and a grid cell of at most
//     128 pixels; an MJPEG frame larger than the raw YUYV size of its picture
//     is refused. Progressive, arithmetic-coded, lossless and 12-bit JPEGs, and
//     JPEGs whose luma is subsampled, are refused with ErrUnsupported (UVC
//     cameras send baseline JPEG).
//   - H.264 has no cheap luma path, so New refuses it with ErrUnsupported:
//     detection needs a raw or MJPEG stream. The agent asks the driver for a
//     second, small raw or MJPEG stream for detection when the camera offers
//     one, and otherwise runs without motion detection and says so in its
//     status.
//
// A frame that cannot be read (wrong format, size or stride, corrupt,
// truncated or unsupported MJPEG) makes Process return an error wrapping
// capture.ErrBadFrame; it is counted in Stats and logged at a decreasing rate
// (the 1st, 2nd, 4th, 8th... bad frame), never a panic, and leaves the
// detector's state as it was.
//
// # Pipeline
//
// The knobs are named as users of Motion and Frigate know them (see Config;
// the TOML keys of the motion table in the agent's file are given there):
//
//  1. Downscale to the analysis grid by area average (GridWidth cells across,
//     each a square of whole pixels; columns and rows left over at the right
//     and bottom, less than a cell, are not analysed). Luma is summed in
//     64-bit words of four 16-bit lanes and kept in 4-bit fixed point. A
//     4x4 cell (a raw 640x480 frame at the default grid) is read from its
//     lines 0 and 2 only: reading the frame from memory is the largest
//     single cost; on the scenes at 640x480 pixel F moves by at most 0.006
//     against the full average (shadows: 0.03 better) and event F1 not at
//     all. While a
//     row of cells is summed, the lines two rows ahead are touched, a byte
//     per cache line, so their pages and lines arrive meanwhile.
//  2. Blur with a 3x3 binomial filter (Blur), four cells to a 64-bit word.
//  3. Moved picture or light change: when LightChangePercent of the grid differs at
//     once, or the median difference reaches max(1, threshold/8) levels (a
//     drift the running average lags behind), the detector first checks
//     whether the edges of the background are still where they were in the
//     frame. Light moves no edge; a panning camera, a scrolling pattern or a
//     large object does. A moved picture is motion; when LightningPercent of the
//     grid moved, the background is re-learned (10 frames) and the moving
//     picture is still reported meanwhile, as a whole or by region.
//  4. Rolling flicker: when the frame is noisy or its light changed, the
//     median ratio of each grid row to the background is measured and the
//     way rows differ from the median row (the drifting bands of mains
//     flicker on a rolling shutter) is divided out.
//  5. Global light changes: the detector fits the brightness mapping from
//     background to frame (medians in 16 brightness bins, joined linearly,
//     extended as a gain, forced monotone), relights the background with it
//     and thresholds what the mapping does not explain, so a person walking
//     in while a light switches on is still seen. Background cells that
//     clipping makes unreliable are re-learned instead. If LightningPercent of the
//     grid still differs after the fit (a day/night switch with its new tone
//     curve and vignette), the background is re-learned, as after Rebase or
//     NightMode, and no motion is reported while it settles (10 frames).
//     Then each cell is compared with the running-average background
//     (LearnRate; cells in motion learn at a sixteenth of the rate). The
//     threshold is max(Threshold, NoiseK * noise), noise being a running
//     estimate of the standard deviation of frame minus background from the
//     difference between cells two apart (its median absolute value), so a
//     grainy night picture does not light up, and neither a large moving
//     object nor a shadow's smooth change passes for noise. A changed cell that stays unchanged from frame to frame for
//     StillTime (a parked car, the place an object left) is taken into the
//     background at once.
//  6. Camera shake (Shake): a changed cell whose value lies within the range
//     of the background around it is an edge moved by less than a cell or
//     two; when such cells are spread over the picture they are dropped.
//  7. Travelling light (a cloud's shadow, headlights' spill): a changed cell
//     is light when its gain (frame over a reference background that every
//     cell learns at the same slow rate), applied to the reference of four
//     pairs of opposite neighbours 2 cells away and four 4 cells away,
//     explains the frame there: the pair's errors cancel to within half the
//     threshold, as they do for a gain that varies linearly, and the gain
//     changes by at most 12% per 2 cells (18% across a diagonal pair). A
//     cell whose pairs cancel only to within the curvature a soft edge may
//     have (0.45% of the background per cell squared: the rim of a spill)
//     is light when no unexplained changed cell lies within 3 cells, so the
//     inside of an object keeps its outline near. Light cells leave the
//     mask and are taken into the background at once (as a global light
//     change relights it); clipped ones follow the light cells around them.
//     The shadows scene (cloud shadows, one entering at the border, and
//     headlights' spill) raises no event; tuned on that one synthetic scene.
//  8. Despeckle the changed-cell mask with erosions and dilations
//     (Despeckle, Motion's despeckle_filter, on 64-bit rows), keep the cells
//     inside the zones (Zones: polygons in frame-relative coordinates,
//     rasterised once): these are the seeds. Hysteresis: the regions are the
//     seeds grown by up to 6 cells into the cells beyond half the threshold
//     (or 0.75 * NoiseK * noise) that are not light; label 8-connected
//     regions (runs and union-find); a region counts by its seeds (MinAreaPercent),
//     its shape is all of it, so the low-contrast parts of a person at night
//     are reported with them. Extension: once step 9 has decided which
//     regions count, those are grown further for the frame's report (mask,
//     boxes, score) by up to 12 cells into the cells beyond a quarter of
//     the threshold (or 0.75 * NoiseK * noise), skipping a cell whose
//     difference is under a third of a neighbour's (the blurred rim of a
//     bright object, the trail it leaves), then bridged across a gap of a
//     cell to the parts of such cells of 15 cells or more it did not reach
//     (a body below a band of clothes as dark as the ground at night; not
//     in a frame whose rolling flicker was divided out, whose median
//     difference is half a level or more, or within 1 s of a global light
//     change), gaps of a cell are closed and
//     the holes the mask then encloses are filled (in the zones);
//     not in a frame that is shaken or where a travelling light was taken
//     out (its soft edge would carry the growth). It never decides whether
//     a region counts, so it raises no event.
//  9. Particles near the lens (snow, rain, insects under the IR lamp): a
//     region under 0.5% of the picture counts only once it has persisted for
//     0.4 s, each frame at least a third of it within a cell of the frame
//     before's regions. Rain and insects do not persist. Large slow
//     snowflakes do, so a frame with 4 or more such small regions, or 5
//     small regions born (new, or no longer overlapping) within 2 s (an
//     insect fluttering can persist 0.4 s), marks a particle field: for 2 s
//     after it, a region under 0.625% of the picture must persist for 1.6 s
//     (longer than a flake stays in view).
//     A small object's event starts 0.4 s later, 1.6 s in a particle field.
//  10. Events: MinMotionFrames consecutive frames with motion start an event,
//     EventGap without motion ends it, and no event starts within Cooldown of
//     the last one's end. An event carries its start and end times and
//     frames, its peak score (the fraction of the analysed area in motion),
//     and the peak's frame, time and boxes in input pixels.
//
// Stats.Filtered counts the frames in which each filter (shake, shadow,
// particles) took motion away; `camagent detect` prints them in its summary.
//
// Everything per cell runs in integer arithmetic (floats only per frame), in
// buffers allocated by New for the given capture.Format: Process allocates
// nothing.
//
// # Cost
//
// BenchmarkProcess reports CPU time per frame (the thread's, and the
// process's from getrusage) beside ns/op, which on a shared machine also
// counts waiting for a core. BenchmarkFilters runs six detectors over the
// same 640x480 YUYV frames (all filters, each of shake, light, hysteresis
// and particles off, and none) and reports each filter's share. The
// README's motion section has the figures and the load they were taken at.
//
// # Evaluation
//
// eval_test.go (TestEvaluateScenes, and BenchmarkScenes for `make bench`)
// scores the detector on every scene of capture/synth, with the defaults, the
// scene's exclude zones and a 1 s event gap (the scenes leave 2 s and more
// between their motion spans):
//
//   - Events: a detected event and a ground-truth motion span match when they
//     overlap, each at most once (so a merged or split event counts against
//     the detector). Precision is the fraction of events matched, recall the
//     fraction of spans matched; with neither, both are 1.
//   - Pixels, as CDnet 2014 computes them: TP, FP, FN and TN summed over all
//     frames after the warm-up (CDnet's temporal ROI), at the analysis grid's
//     resolution. A grid cell's truth is "unknown" (not scored) when at least
//     half of its pixels are unknown (170: object borders, excluded zones),
//     else "motion" when at least half of its known pixels move, else
//     "static". The detector's mask is its reported motion regions (Mask).
//
// OpenCV's MOG2, run by testdata/mog2.py with /usr/bin/python3 on the same
// frames, is scored the same way (its foreground averaged onto the same grid,
// motion when at least half of a cell is foreground, shadows not counted).
package motion
