// Package jpegframe turns captured pictures into JPEG: the clip frames of a
// camera that gives raw pixels (YUYV, NV12 or GREY, as vivid and many cheap
// sensors do), and the small thumbnail of an event's peak frame.
//
// It exists so that the recorder can store raw video in an MJPEG clip without
// allocating per frame: a Picture holds image planes that are reused from
// frame to frame, Load converts a frame's bytes into them, and Encode writes
// the JPEG into a caller's bytes.Buffer through a writer that needs no
// bufio. image/jpeg itself still allocates a little per call (its encoder
// state); the package's benchmarks report how much.
//
// Thumbnails are scaled down with a box filter (each output pixel is the mean
// of the input pixels it covers), from a raw frame or from a JPEG picture
// (decoded with limits on its size).
package jpegframe
