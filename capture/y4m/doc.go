// Package y4m reads and writes YUV4MPEG2 (Y4M) files, the uncompressed video
// format ffmpeg, x264 and most test-sequence collections understand, so the agent
// can replay recorded or generated footage as if it came from a camera, and tests
// can hand their frames to ffmpeg.
//
// A Reader is a capture.Source. It converts the planar Y4M layout to the packed
// formats the rest of the agent consumes:
//
//	Y4M colorspace                         frames as
//	C420jpeg, C420paldv, C420mpeg2, C420   capture.FormatNV12 (Y plane, then interleaved UV)
//	C422                                   capture.FormatYUYV (Y0 U Y1 V)
//	Cmono                                  capture.FormatGREY
//
// Other colorspaces (4:4:4, high bit depth, alpha) are refused with an error
// naming the tag. A stream without a C tag is 4:2:0, one without an F tag runs at
// 25 fps. 4:2:0 streams need an even width and height, 4:2:2 an even width. The
// decoder limits are documented on ReaderOptions: at most 8192x8192 pixels and
// 1 KiB for the stream header line and for each FRAME line.
//
// A Writer does the reverse (GREY to Cmono, NV12 to C420jpeg, YUYV to C422).
package y4m
