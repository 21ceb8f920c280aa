package live

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// DataChannelLabel is the label of the data channel the viewer opens; JPEG
// pictures travel on it.
const DataChannelLabel = "live"

// Framing of a JPEG picture on the data channel: it is cut into messages of
// at most ChunkSize bytes (below every browser's and pion's message limit),
// each led by one flag byte; ChunkLast marks the picture's final message.
const (
	ChunkSize = 16 << 10
	ChunkLast = 0x01
)

// Send limits.
const (
	// maxBuffered is how much may wait in the data channel before pictures
	// are skipped rather than queued (a slow viewer never holds frames).
	maxBuffered = 512 << 10
	// sctpRTOMax caps the data channel's retransmission backoff (see
	// NewServer).
	sctpRTOMax = 3 * time.Second
	// queueDepth is each H.264 session's capture queue depth (drop-oldest).
	queueDepth = 2
	// rtpMTU is the RTP payload size for H.264.
	rtpMTU = 1200
)

// h264Codec is what the video track sends: constrained baseline, the profile
// every browser decodes.
var h264Codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}

type session struct {
	srv     *Server
	id      string
	media   string
	format  capture.Format
	started time.Time

	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticRTP
	rtcpDone chan struct{}

	wake      chan struct{} // capacity 1: the connection state changed
	connected atomic.Bool
	ended     atomic.Bool // failed or closed: the session is over
	dc        atomic.Pointer[webrtc.DataChannel]
	dcOpen    atomic.Bool
	needKey   atomic.Bool
	state     atomic.Value // string

	stopMu     sync.Mutex
	stopStream context.CancelFunc

	sent, skipped, bytes atomic.Uint64
	closeOnce            sync.Once
}

func newSession(s *Server, id, media string, format capture.Format) *session {
	sess := &session{srv: s, id: id, media: media, format: format, started: s.cfg.Now(),
		wake: make(chan struct{}, 1)}
	sess.state.Store("new")
	return sess
}

func (s *session) status() SessionStatus {
	st, _ := s.state.Load().(string)
	return SessionStatus{ID: s.id, Media: s.media, State: st, Started: s.started,
		Sent: s.sent.Load(), Skipped: s.skipped.Load(), Bytes: s.bytes.Load()}
}

func (s *session) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
	if !s.ready() {
		s.stopMu.Lock()
		if s.stopStream != nil {
			s.stopStream()
		}
		s.stopMu.Unlock()
	}
}

func (s *session) ready() bool {
	if s.ended.Load() || !s.connected.Load() {
		return false
	}
	return s.media == MediaH264 || s.dcOpen.Load()
}

// setup makes the peer connection for the offer and returns the complete
// SDP answer (all candidates gathered).
func (s *session) setup(ctx context.Context, offerSDP string) (string, error) {
	cfg := s.srv.cfg
	pc, err := s.srv.api.NewPeerConnection(webrtc.Configuration{ICEServers: pionICE(cfg.ICEServers)})
	if err != nil {
		return "", fmt.Errorf("live: session %s: %w", s.id, err)
	}
	s.pc = pc
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.state.Store(st.String())
		s.connected.Store(st == webrtc.PeerConnectionStateConnected)
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			s.ended.Store(true)
		}
		s.notify()
	})
	if s.media == MediaJPEG {
		pc.OnDataChannel(func(dc *webrtc.DataChannel) {
			if dc.Label() != DataChannelLabel || !s.dc.CompareAndSwap(nil, dc) {
				return
			}
			dc.OnOpen(func() { s.dcOpen.Store(true); s.notify() })
			dc.OnClose(func() { s.dcOpen.Store(false); s.ended.Store(true); s.notify() })
		})
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return "", fmt.Errorf("live: session %s: remote description: %w", s.id, err)
	}
	if s.media == MediaH264 {
		s.track, err = webrtc.NewTrackLocalStaticRTP(h264Codec, "video", "camagent")
		if err != nil {
			return "", fmt.Errorf("live: session %s: track: %w", s.id, err)
		}
		sender, err := pc.AddTrack(s.track)
		if err != nil {
			return "", fmt.Errorf("live: session %s: add track: %w", s.id, err)
		}
		s.rtcpDone = make(chan struct{})
		go s.readRTCP(sender) // ends when the peer connection closes; teardown waits
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("live: session %s: answer: %w", s.id, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("live: session %s: local description: %w", s.id, err)
	}
	t := time.NewTimer(cfg.GatherWait)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C: // send what was gathered so far
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// readRTCP drains the sender's RTCP (the interceptors need it read) and turns
// a picture loss indication into a keyframe request.
func (s *session) readRTCP(sender *webrtc.RTPSender) {
	defer close(s.rtcpDone)
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.needKey.Store(true)
				if s.srv.cfg.RequestKeyframe != nil {
					s.srv.cfg.RequestKeyframe()
				}
			}
		}
	}
}

// run streams to the viewer while it is connected, and ends the session when
// it stays unconnected for IdleTimeout, fails, closes, reaches MaxSession or
// when ctx ends.
func (s *session) run(ctx context.Context) {
	defer s.teardown()
	cfg := s.srv.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxSession)
	defer cancel()
	idle := time.NewTimer(cfg.IdleTimeout)
	defer idle.Stop()
	st := streamer{s: s}
	for {
		for !s.ready() {
			if s.ended.Load() {
				s.srv.log.Info("live: session ended by the viewer", "session", s.id)
				return
			}
			select {
			case <-ctx.Done():
				s.srv.log.Info("live: session ended", "session", s.id, "why", context.Cause(ctx))
				return
			case <-idle.C:
				s.srv.log.Info("live: session idle, ended", "session", s.id)
				return
			case <-s.wake:
			}
		}
		idle.Stop()
		streamCtx, stop := context.WithCancel(ctx)
		s.stopMu.Lock()
		s.stopStream = stop
		s.stopMu.Unlock()
		if !s.ready() {
			stop()
		}
		st.stream(streamCtx)
		s.stopMu.Lock()
		s.stopStream = nil
		s.stopMu.Unlock()
		stop()
		if ctx.Err() != nil {
			s.srv.log.Info("live: session ended", "session", s.id, "why", context.Cause(ctx))
			return
		}
		idle.Reset(cfg.IdleTimeout)
	}
}

// teardown closes the peer connection and waits for the session's goroutines.
func (s *session) teardown() {
	s.closeOnce.Do(func() {
		if s.pc != nil {
			if err := s.pc.Close(); err != nil {
				s.srv.log.Debug("live: close", "session", s.id, "err", err)
			}
		}
		if s.rtcpDone != nil {
			<-s.rtcpDone
		}
		s.state.Store("closed")
	})
}

// streamer holds one session's per-frame buffers, reused frame to frame.
type streamer struct {
	s *session

	// JPEG: the pictures are shared (Server.pics); only the framing is the
	// session's.
	chunk []byte

	// H.264
	payloader codecs.H264Payloader
	pkt       rtp.Packet
	sps, pps  []byte
	au        []byte
	t0        time.Time
	tsBase    uint32
}

// stream sends to the viewer until ctx ends.
func (st *streamer) stream(ctx context.Context) {
	if st.s.media == MediaH264 {
		st.streamH264(ctx)
		return
	}
	pics := st.s.srv.pics
	q := pics.subscribe()
	defer pics.unsubscribe(q)
	for {
		p, err := q.next(ctx)
		if err != nil {
			return
		}
		err = st.sendPicture(p.buf.Bytes())
		p.release()
		st.count(err)
	}
}

func (st *streamer) streamH264(ctx context.Context) {
	hub := st.s.srv.cfg.Hub
	q := hub.Subscribe("live-"+st.s.id, queueDepth)
	defer hub.Unsubscribe(q)
	st.s.needKey.Store(true)
	if st.s.srv.cfg.RequestKeyframe != nil {
		st.s.srv.cfg.RequestKeyframe()
	}
	for {
		f, err := q.Next(ctx)
		if err != nil {
			return
		}
		err = st.sendH264(f)
		f.Release()
		st.count(err)
	}
}

func (st *streamer) count(err error) {
	if err == nil {
		return
	}
	if !errors.Is(err, errSkip) {
		st.s.srv.log.Warn("live: send", "session", st.s.id, "err", err)
	}
	st.s.skipped.Add(1)
}

var errSkip = errors.New("skip")

// sendPicture sends one JPEG picture on the data channel, cut into chunks,
// or skips it while the channel has more than maxBuffered waiting.
func (st *streamer) sendPicture(data []byte) error {
	dc := st.s.dc.Load()
	if dc == nil || dc.BufferedAmount() > maxBuffered {
		return errSkip
	}
	if st.chunk == nil {
		st.chunk = make([]byte, 1+ChunkSize)
	}
	for len(data) > 0 {
		n := min(len(data), ChunkSize)
		st.chunk[0] = 0
		if n == len(data) {
			st.chunk[0] = ChunkLast
		}
		copy(st.chunk[1:], data[:n])
		if err := dc.Send(st.chunk[:1+n]); err != nil {
			return fmt.Errorf("data channel: %w", err)
		}
		st.s.bytes.Add(uint64(n))
		data = data[n:]
	}
	st.s.sent.Add(1)
	return nil
}

var startCode = []byte{0, 0, 0, 1}

func (st *streamer) sendH264(f *capture.Frame) error {
	au := f.Data
	key := fmp4.IsKeyframe(au)
	if key {
		sps, pps := fmp4.ParameterSets(au)
		if len(sps) > 0 && len(pps) > 0 {
			st.sps = append(st.sps[:0], sps[0]...)
			st.pps = append(st.pps[:0], pps[0]...)
		} else if len(st.sps) > 0 {
			// SPS/PPS before every IDR, from the last ones the source sent.
			st.au = append(st.au[:0], startCode...)
			st.au = append(st.au, st.sps...)
			st.au = append(st.au, startCode...)
			st.au = append(st.au, st.pps...)
			if au[0] != 0 || au[1] != 0 {
				st.au = append(st.au, startCode...)
			}
			au = append(st.au, au...)
			st.au = au[:0]
		} else {
			return errSkip // no parameter sets yet: nothing can decode it
		}
	}
	if st.s.needKey.Load() {
		if !key {
			return nil // waiting for a keyframe (the viewer is new or lost one)
		}
		st.s.needKey.Store(false)
	}
	if st.t0.IsZero() {
		st.t0 = f.Time
		st.tsBase = randomUint32() // RFC 3550: a random initial timestamp
	}
	// The RTP clock follows the capture timestamps: 90 kHz.
	ts := st.tsBase + uint32(f.Time.Sub(st.t0).Microseconds()*9/100)
	payloads := st.payloader.Payload(rtpMTU, au)
	for i, p := range payloads {
		st.pkt.Header = rtp.Header{Version: 2, Marker: i == len(payloads)-1,
			SequenceNumber: st.pkt.SequenceNumber + 1, Timestamp: ts}
		st.pkt.Payload = p
		if err := st.s.track.WriteRTP(&st.pkt); err != nil {
			return fmt.Errorf("rtp: %w", err)
		}
		st.s.bytes.Add(uint64(len(p)))
	}
	st.s.sent.Add(1)
	return nil
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return binary.BigEndian.Uint32(b[:])
}
