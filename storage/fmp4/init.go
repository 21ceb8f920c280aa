package fmp4

// Track-independent constants of the files written here.
const (
	trackID = 1
	// Sample flags (ISO/IEC 14496-12 8.8.3.1): a sync sample depends on no
	// other (sample_depends_on = 2); any other sample depends on others
	// (sample_depends_on = 1) and has sample_is_non_sync_sample set.
	flagsSync    = 0x02000000
	flagsNonSync = 0x01010000
	// tfhd flag: data offsets are relative to the start of the moof.
	tfhdDefaultBaseIsMoof = 0x020000
	// trun flags.
	trunDataOffset     = 0x000001
	trunFirstFlags     = 0x000004
	trunSampleDuration = 0x000100
	trunSampleSize     = 0x000200
	trunSampleFlags    = 0x000400
	trunSampleCTS      = 0x000800
)

// appendInit appends the init segment (ftyp + moov) for track t, whose
// parameter sets have been checked and whose sizes filled in.
func appendInit(dst []byte, t *Track, sps *SPS) []byte {
	w := builder{b: dst}

	ftyp := w.start("ftyp")
	w.str("iso5")
	w.u32(512)
	w.str("iso5iso6mp41")
	w.end(ftyp)

	moov := w.start("moov")

	mvhd := w.full("mvhd", 0, 0)
	w.u32(0) // creation_time
	w.u32(0) // modification_time
	w.u32(t.Timescale)
	w.u32(0)          // duration: fragments carry it
	w.u32(0x00010000) // rate 1.0
	w.u16(0x0100)     // volume 1.0
	w.zeros(2 + 8)    // reserved
	w.matrix()
	w.zeros(6 * 4)     // pre_defined
	w.u32(trackID + 1) // next_track_ID
	w.end(mvhd)

	trak := w.start("trak")
	tkhd := w.full("tkhd", 0, 0x000003) // enabled, in movie
	w.u32(0)                            // creation_time
	w.u32(0)                            // modification_time
	w.u32(trackID)
	w.u32(0) // reserved
	w.u32(0) // duration
	w.zeros(8)
	w.u16(0) // layer
	w.u16(0) // alternate_group
	w.u16(0) // volume: video
	w.u16(0) // reserved
	w.matrix()
	w.u32(uint32(t.Width) << 16)
	w.u32(uint32(t.Height) << 16)
	w.end(tkhd)

	mdia := w.start("mdia")
	mdhd := w.full("mdhd", 0, 0)
	w.u32(0) // creation_time
	w.u32(0) // modification_time
	w.u32(t.Timescale)
	w.u32(0)      // duration
	w.u16(0x55c4) // language "und"
	w.u16(0)      // pre_defined
	w.end(mdhd)

	hdlr := w.full("hdlr", 0, 0)
	w.u32(0) // pre_defined
	w.str("vide")
	w.zeros(12) // reserved
	w.str("VideoHandler\x00")
	w.end(hdlr)

	minf := w.start("minf")
	vmhd := w.full("vmhd", 0, 1)
	w.zeros(8) // graphicsmode, opcolor
	w.end(vmhd)

	dinf := w.start("dinf")
	dref := w.full("dref", 0, 0)
	w.u32(1)
	url := w.full("url ", 0, 1) // media in this file
	w.end(url)
	w.end(dref)
	w.end(dinf)

	stbl := w.start("stbl")
	stsd := w.full("stsd", 0, 0)
	w.u32(1) // entry_count
	appendSampleEntry(&w, t, sps)
	w.end(stsd)
	for _, typ := range []string{"stts", "stsc", "stco"} {
		b := w.full(typ, 0, 0)
		w.u32(0) // entry_count
		w.end(b)
	}
	stsz := w.full("stsz", 0, 0)
	w.u32(0) // sample_size
	w.u32(0) // sample_count
	w.end(stsz)
	w.end(stbl)
	w.end(minf)
	w.end(mdia)
	w.end(trak)

	mvex := w.start("mvex")
	trex := w.full("trex", 0, 0)
	w.u32(trackID)
	w.u32(1) // default_sample_description_index
	w.u32(0) // default_sample_duration
	w.u32(0) // default_sample_size
	w.u32(0) // default_sample_flags
	w.end(trex)
	w.end(mvex)

	w.end(moov)
	return w.b
}

// appendSampleEntry writes the VisualSampleEntry (ISO/IEC 14496-12 12.1.3)
// with its codec configuration box.
func appendSampleEntry(w *builder, t *Track, sps *SPS) {
	typ := "mp4v"
	if t.Codec == H264 {
		typ = "avc1"
	}
	e := w.start(typ)
	w.zeros(6) // reserved
	w.u16(1)   // data_reference_index
	w.u16(0)   // pre_defined
	w.u16(0)   // reserved
	w.zeros(12)
	w.u16(uint16(t.Width))
	w.u16(uint16(t.Height))
	w.u32(0x00480000) // 72 dpi
	w.u32(0x00480000)
	w.u32(0) // reserved
	w.u16(1) // frame_count
	w.zeros(32)
	w.u16(0x0018) // depth
	w.u16(0xffff) // pre_defined = -1
	if t.Codec == H264 {
		appendAVCC(w, t, sps)
	} else {
		appendESDS(w)
	}
	w.end(e)
}

// appendAVCC writes the AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// 5.3.3.1).
func appendAVCC(w *builder, t *Track, sps *SPS) {
	b := w.start("avcC")
	w.u8(1) // configurationVersion
	w.u8(sps.Profile)
	w.u8(sps.Constraints)
	w.u8(sps.Level)
	w.u8(0xfc | 3) // lengthSizeMinusOne: 4-byte lengths
	w.u8(0xe0 | uint8(len(t.SPS)))
	for _, p := range t.SPS {
		w.u16(uint16(len(p)))
		w.bytes(p)
	}
	w.u8(uint8(len(t.PPS)))
	for _, p := range t.PPS {
		w.u16(uint16(len(p)))
		w.bytes(p)
	}
	if highProfile(sps.Profile) {
		w.u8(0xfc | sps.ChromaFormat)
		w.u8(0xf8 | (sps.BitDepthLuma - 8))
		w.u8(0xf8 | (sps.BitDepthChroma - 8))
		w.u8(0) // numOfSequenceParameterSetExt
	}
	w.end(b)
}

// MJPEG's objectTypeIndication in the MPEG-4 systems registry (ISO/IEC
// 10918-1 JPEG), and the visual stream type.
const (
	objectTypeJPEG = 0x6c
	streamTypeVis  = 0x04
)

// appendESDS writes the ES_Descriptor (ISO/IEC 14496-1 7.2.6.5) naming the
// stream as JPEG pictures.
func appendESDS(w *builder) {
	b := w.full("esds", 0, 0)
	w.u8(0x03) // ES_DescrTag
	w.u8(3 + 2 + 13 + 2 + 1)
	w.u16(trackID) // ES_ID
	w.u8(0)        // no dependency, URL or OCR stream
	w.u8(0x04)     // DecoderConfigDescrTag
	w.u8(13)
	w.u8(objectTypeJPEG)
	w.u8(streamTypeVis<<2 | 1) // upStream 0, reserved 1
	w.u24(0)                   // bufferSizeDB
	w.u32(0)                   // maxBitrate
	w.u32(0)                   // avgBitrate
	w.u8(0x06)                 // SLConfigDescrTag
	w.u8(1)
	w.u8(0x02) // predefined: MP4 file
	w.end(b)
}
