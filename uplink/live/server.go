package live

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// maxRemembered bounds the replay memory: nonces of offers not yet expired.
const maxRemembered = 1024

// offerQueue is how many received offers wait for the server loop; more are
// dropped (and counted), never queued without bound.
const offerQueue = 4

// Server is the device side of live view: it verifies owners' offers, answers
// them signed by the device key, and runs one WebRTC session per viewer.
type Server struct {
	cfg  Config
	api  *webrtc.API
	log  *slog.Logger
	pics *pictures // the JPEG pictures every JPEG session shares

	offers   chan []byte
	requests chan request

	mu       sync.Mutex
	sessions map[string]*session
	seen     map[string]time.Time // offer nonce -> its expiry
	wg       sync.WaitGroup

	accepted, refused, dropped atomic.Uint64
	lastRefusal                atomic.Value // string
}

// NewServer checks cfg, fills its defaults and returns a Server; nothing runs
// until Run.
func NewServer(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("live: media engine: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("live: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	// A lost SCTP packet of the picture channel is retransmitted after the
	// RTO, which doubles on each loss up to pion's default of 60 s: on a
	// loaded path a few losses in a row would hold every later picture for
	// a minute. A live picture that late is worthless, so the backoff stops
	// at sctpRTOMax.
	se.SetSCTPRTOMax(sctpRTOMax)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return &Server{cfg: cfg, api: api, log: cfg.Logger, offers: make(chan []byte, offerQueue),
		pics:     newPictures(cfg.Hub, cfg.MaxViewers, cfg.FPS, cfg.Quality, cfg.Logger),
		requests: make(chan request),
		sessions: map[string]*session{}, seen: map[string]time.Time{}}, nil
}

// Run subscribes to offers on the transport (when one is configured) and
// serves them until ctx ends; then it ends every session and returns after
// all their goroutines have exited.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		s.wg.Wait()
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.pics.run(ctx)
	}()
	if s.cfg.Transport != nil {
		stop, err := s.cfg.Transport.Subscribe(ctx, TopicOffer, s.receive)
		if err != nil {
			return fmt.Errorf("live: subscribe %s: %w", TopicOffer, err)
		}
		defer stop()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case req := <-s.requests:
			answer, err := s.serve(ctx, req.signed)
			req.reply <- reply{answer, err}
		case b := <-s.offers:
			answer, _ := s.serve(ctx, b) // logged and counted by serve
			if answer != nil && s.cfg.Transport != nil {
				if err := s.cfg.Transport.Publish(ctx, TopicAnswer, answer); err != nil {
					s.log.Warn("live: publish answer", "err", err)
				}
			}
		}
	}
}

// receive is the transport's callback: it copies the offer into the bounded
// queue, or drops it when the queue is full.
func (s *Server) receive(payload []byte) {
	if len(payload) > MaxSDP*2 {
		s.dropped.Add(1)
		return
	}
	select {
	case s.offers <- append([]byte(nil), payload...):
	default:
		s.dropped.Add(1)
	}
}

type request struct {
	signed []byte
	reply  chan reply
}

type reply struct {
	answer []byte
	err    error
}

// HandleOffer hands a signed offer to the running server (Run), which
// verifies it and, when it is acceptable, starts a session and returns the
// signed answer. An offer whose owner signature verifies but that cannot be
// served (expired, viewer limit) gets a signed refusal and an error; an
// offer that is forged, misaddressed or replayed gets no answer at all, only
// an error. It is how a transport other than Config.Transport (a test, the
// cloud's relay for a LAN viewer) brings offers; the session belongs to Run
// either way. ctx bounds only the wait.
func (s *Server) HandleOffer(ctx context.Context, signed []byte) ([]byte, error) {
	req := request{signed: signed, reply: make(chan reply, 1)}
	select {
	case s.requests <- req:
	case <-ctx.Done():
		return nil, fmt.Errorf("live: offer: server not running: %w", ctx.Err())
	}
	select {
	case r := <-req.reply:
		return r.answer, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("live: offer: %w", ctx.Err())
	}
}

// serve handles one offer on Run's goroutine; ctx is Run's.
func (s *Server) serve(ctx context.Context, signed []byte) ([]byte, error) {
	answer, err := s.handleOffer(ctx, signed)
	if err != nil {
		s.log.Warn("live: offer refused", "err", err)
		s.refused.Add(1)
		s.lastRefusal.Store(err.Error())
	} else {
		s.accepted.Add(1)
	}
	return answer, err
}

func (s *Server) handleOffer(ctx context.Context, signed []byte) ([]byte, error) {
	owner, err := s.cfg.Owner()
	if err != nil {
		if errors.Is(err, identity.ErrNotPaired) {
			return nil, fmt.Errorf("live: offer: %w", ErrNotPaired)
		}
		return nil, fmt.Errorf("live: offer: owner binding: %w", err)
	}
	var ownerKeys []*ecdsa.PublicKey
	for i, der := range owner.OwnerKeys() {
		k, err := identity.ParsePublicKey(der)
		if err != nil {
			return nil, fmt.Errorf("live: offer: owner key %d: %w", i+1, err)
		}
		ownerKeys = append(ownerKeys, k)
	}
	now := s.cfg.Now()
	offer, err := VerifyOfferAny(signed, ownerKeys, s.cfg.DeviceID, now, s.cfg.OfferMaxLife)
	if errors.Is(err, ErrExpired) {
		// The owner signed it: tell the viewer why, signed.
		o, _, _ := ParseOffer(signed)
		return s.refuse(o.Nonce, "offer expired or not yet valid (check the viewer's clock)", err)
	}
	if err != nil {
		return nil, err
	}
	if err := s.remember(offer, now); err != nil {
		return nil, err
	}
	format := s.cfg.Format()
	media := MediaJPEG
	switch {
	case format.Pixel == capture.FormatH264:
		media = MediaH264
	case format.Width == 0:
		return s.refuse(offer.Nonce, "the camera is not running", errors.New("live: offer: camera not running"))
	}
	id := newSessionID()
	s.mu.Lock()
	if len(s.sessions) >= s.cfg.MaxViewers {
		s.mu.Unlock()
		return s.refuse(offer.Nonce, fmt.Sprintf("already %d viewers (the limit)", s.cfg.MaxViewers),
			fmt.Errorf("live: offer: %w", ErrBusy))
	}
	sess := newSession(s, id, media, format)
	s.sessions[id] = sess
	s.mu.Unlock()

	sdp, err := sess.setup(ctx, offer.SDP)
	if err != nil {
		s.drop(sess)
		sess.teardown()
		return s.refuse(offer.Nonce, "the device could not set up the session", err)
	}
	fp, err := SDPFingerprint(sdp)
	if err != nil {
		s.drop(sess)
		sess.teardown()
		return nil, fmt.Errorf("live: answer: %w", err)
	}
	answer, err := SealAnswer(Answer{DeviceID: s.cfg.DeviceID, Session: id, Nonce: offer.Nonce,
		Media: media, SDP: sdp, Fingerprint: fp}, s.cfg.Signer)
	if err != nil {
		s.drop(sess)
		sess.teardown()
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.drop(sess)
		sess.run(ctx)
	}()
	s.log.Info("live: session started", "session", id, "media", media)
	return answer, nil
}

// remember records the offer's nonce until the offer expires and refuses a
// nonce it has seen.
func (s *Server) remember(o Offer, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := string(o.Nonce)
	if _, ok := s.seen[key]; ok {
		return fmt.Errorf("live: offer: %w", ErrReplayed)
	}
	if len(s.seen) >= maxRemembered {
		for k, exp := range s.seen {
			if !now.Before(exp) {
				delete(s.seen, k)
			}
		}
		if len(s.seen) >= maxRemembered {
			return fmt.Errorf("live: offer: %w: %d unexpired offers remembered", ErrBusy, len(s.seen))
		}
	}
	s.seen[key] = o.Expires
	return nil
}

func (s *Server) refuse(nonce []byte, reason string, cause error) ([]byte, error) {
	if len(nonce) < MinNonce {
		return nil, cause
	}
	b, err := SealAnswer(Answer{DeviceID: s.cfg.DeviceID, Nonce: nonce, Refused: reason}, s.cfg.Signer)
	if err != nil {
		return nil, errors.Join(cause, err)
	}
	return b, cause
}

func (s *Server) drop(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.mu.Unlock()
}

func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// SessionStatus is one viewer session, for ctl status.
type SessionStatus struct {
	ID      string    `json:"id"`
	Media   string    `json:"media"`
	State   string    `json:"state"`
	Started time.Time `json:"started"`
	Sent    uint64    `json:"frames_sent"`
	Skipped uint64    `json:"frames_skipped"`
	Bytes   uint64    `json:"bytes_sent"`
}

// Status is the live-view part's state, for ctl status and the shell.
type Status struct {
	Viewers     int    `json:"viewers"`
	MaxViewers  int    `json:"max_viewers"`
	Accepted    uint64 `json:"offers_accepted"`
	Refused     uint64 `json:"offers_refused"`
	Dropped     uint64 `json:"offers_dropped"`
	LastRefusal string `json:"last_refusal,omitempty"`
	// Pictures is how many JPEG pictures were encoded (once for all
	// viewers); PicturesSkipped how many frames found no free buffer or
	// failed to encode.
	Pictures        uint64          `json:"pictures_encoded"`
	PicturesSkipped uint64          `json:"pictures_skipped"`
	Sessions        []SessionStatus `json:"sessions"`
}

// Status returns the current sessions and counters.
func (s *Server) Status() Status {
	st := Status{MaxViewers: s.cfg.MaxViewers, Accepted: s.accepted.Load(), Refused: s.refused.Load(),
		Dropped: s.dropped.Load(), Sessions: []SessionStatus{},
		Pictures: s.pics.encoded.Load(), PicturesSkipped: s.pics.skipped.Load()}
	if v, ok := s.lastRefusal.Load().(string); ok {
		st.LastRefusal = v
	}
	s.mu.Lock()
	for _, sess := range s.sessions {
		st.Sessions = append(st.Sessions, sess.status())
	}
	s.mu.Unlock()
	// sort.Slice, not slices.SortFunc: no copy of the sort per element type (README "Size budget").
	sort.Slice(st.Sessions, func(i, j int) bool {
		a, b := &st.Sessions[i], &st.Sessions[j]
		return cmp.Or(a.Started.Compare(b.Started), strings.Compare(a.ID, b.ID)) < 0
	})
	st.Viewers = len(st.Sessions)
	return st
}
