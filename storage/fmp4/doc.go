// Package fmp4 writes and checks the fragmented MP4 (ISO BMFF, ISO/IEC
// 14496-12) files that hold camagent's event clips.
//
// It exists because a clip on the SD card must be playable at every moment a
// camera may lose power: a fragmented file is an init segment (ftyp + moov,
// with no sample tables) followed by self-contained fragments (moof + mdat),
// so a file cut at any fragment boundary is a valid clip. The usual Go MP4
// libraries are not available to this build, and a camera needs only one video
// track, so the boxes are written here by hand.
//
// # Writing
//
// [NewWriter] takes an io.Writer and a [Track]: H.264 is stored as `avc1`
// with an `avcC` built from the stream's SPS and PPS; MJPEG as `mp4v` with an
// `esds` whose objectTypeIndication is 0x6C (ISO/IEC 10918-1 JPEG), which
// ffmpeg, VLC and mpv play. Call [Writer.WriteInit] once, then
// [Writer.AddSample] per frame with its capture time since the start of the
// clip, and [Writer.Flush] to emit the pending samples as one fragment in a
// single Write call. The Writer never syncs: the clip store wraps an *os.File
// and calls its Sync after each Flush returns. When to cut a fragment is the
// caller's policy; [Writer.FragmentDuration], [Writer.PendingSamples] and
// [Writer.WouldStartFragment] give it what it needs. An H.264 fragment always
// starts on a keyframe.
//
// Each fragment's moof carries, besides mfhd and traf (tfhd with
// default-base-is-moof, tfdt, trun), a `uuid` box of camagent's with the
// CRC-32 (IEEE) of its mdat payload. Players skip unknown uuid boxes; [Scan]
// uses the checksum to tell a fragment whose data blocks never reached the
// card (zeros or stale blocks after a power cut) from a whole one.
//
// Memory is bounded: a Writer buffers at most [DefaultMaxFragmentSize] bytes
// of samples (see [WithMaxFragmentSize]) and [DefaultMaxFragmentSamples]
// samples per fragment, in buffers that it reuses, so it does not allocate per
// sample once warmed up.
//
// # Recovery
//
// [Scan] walks a possibly torn file (a `.part` left by a crash) and reports its
// init segment and each whole fragment, checking the box bounds, the trun
// against its mdat, the data offset, the increasing sequence numbers and
// decode times, and the checksum. The valid prefix ends at the first thing that
// is truncated or corrupt; the recovery code cuts the file there. Scan reads
// at most [MaxInitBoxSize] bytes of moov and [MaxMoofSize] bytes of each moof
// into memory, streams each mdat through a small buffer, and stops after
// [MaxFragments] fragments or at a trun of more than [MaxTrunSamples] samples.
//
// Not supported: more than one track, B-frames (samples must be given in
// decode order with increasing timestamps; no composition offsets are written)
// and H.264 streams whose parameter sets change mid-clip (start a new clip).
package fmp4
