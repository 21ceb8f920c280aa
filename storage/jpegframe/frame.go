package jpegframe

import (
	"bytes"
	"errors"

	"github.com/camagent/camagent/capture"
)

// EncodeFrame appends one camera frame to dst as a JPEG picture: an MJPEG
// frame as it is (after a check of its header), a raw frame (YUYV, NV12,
// GREY) encoded at quality. It is what a snapshot, and a live view's still,
// make of a frame; it copies, so the frame can go back to its pool. An
// H.264 frame is refused: a picture needs a raw or MJPEG stream.
func EncodeFrame(dst *bytes.Buffer, f capture.Format, data []byte, quality int) error {
	switch f.Pixel {
	case capture.FormatMJPEG:
		if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
			return errors.New("the MJPEG frame does not start with a JPEG header")
		}
		dst.Write(data)
		return nil
	case capture.FormatH264:
		return errors.New("the camera sends H.264; a snapshot needs a raw or MJPEG stream")
	}
	var p Picture
	if err := p.Load(f, data); err != nil {
		return err
	}
	return p.Encode(dst, quality)
}
