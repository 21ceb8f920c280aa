package control

import (
	"time"
)

// Paths of the shell's routes on the control socket, beside control's own
// /v1/status and /v1/logs. Routes marked (write) change the device or the
// agent's unlock state; (privileged) ones also need an unlocked session.
const (
	// PathLog answers GET with a LogResponse. Query: n (lines, at most
	// MaxShellLogLines), after (a sequence number: only newer lines) and wait
	// (milliseconds to wait for a line newer than after, at most MaxWait).
	PathLog = "/v1/shell/log"
	// LogHoldConsole, as PathLog's query hold, says that the asking shell
	// shows the log lines on the agent's console itself (a terminal shell
	// on the serial console prints them above the line being typed): while
	// it follows, and a few seconds after, the agent keeps its log off the
	// console, so lines do not land in the middle of what is typed.
	LogHoldConsole = "console"
	// PathEvents answers GET with an EventsResponse; query n.
	PathEvents = "/v1/shell/events"
	// PathClips answers GET with a ClipsResponse; query name (one clip).
	PathClips = "/v1/shell/clips"
	// PathClipVerify answers GET ?name=NAME with a VerifyResponse.
	PathClipVerify = "/v1/shell/clips/verify"
	// PathNet answers GET with a NetResponse.
	PathNet = "/v1/shell/net"
	// PathConfig answers GET with a ConfigResponse; query key (one key).
	PathConfig = "/v1/shell/config"
	// PathMotion answers GET with a MotionResponse; query n, after, wait.
	PathMotion = "/v1/shell/motion"
	// PathStorage answers GET with a StorageResponse.
	PathStorage = "/v1/shell/storage"
	// PathID answers GET with an IDResponse.
	PathID = "/v1/shell/id"
	// PathSnapshot (write) takes an empty POST and answers a SnapshotResponse.
	PathSnapshot = "/v1/shell/snapshot"
	// PathChallenge (write) takes an empty POST and answers a
	// ChallengeResponse.
	PathChallenge = "/v1/shell/challenge"
	// PathUnlock (write) takes an UnlockRequest and answers an
	// UnlockResponse.
	PathUnlock = "/v1/shell/unlock"
	// PathLock (write) takes a SessionRequest and ends that session.
	PathLock = "/v1/shell/lock"
	// PathConfigSet (privileged) takes a ConfigSetRequest and answers a
	// ConfigSetResponse.
	PathConfigSet = "/v1/shell/config/set"
	// PathReboot, PathFormatSD and PathFactoryReset (privileged) take a
	// SessionRequest and answer an ActionResponse.
	PathReboot       = "/v1/shell/reboot"
	PathFormatSD     = "/v1/shell/format-sd"
	PathFactoryReset = "/v1/shell/factory-reset"
)

// Limits of the routes.
const (
	MaxShellLogLines = 1000
	MaxEvents        = 256
	MaxMotion        = 250
	MaxWait          = 15 * time.Second // below the control server's write timeout
	DefaultLogTail   = 20
)

// LogLine is one line of the agent's log and its sequence number.
type LogLine struct {
	Seq  uint64 `json:"seq"`
	Text string `json:"text"`
}

// LogResponse is the answer of PathLog: lines oldest first, and the sequence
// number of the newest line the agent has (lower than the after asked for
// when the agent restarted).
type LogResponse struct {
	Lines []LogLine `json:"lines"`
	Last  uint64    `json:"last"`
}

// Box is a rectangle in frame pixels.
type Box struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// MaxBoxes bounds the boxes kept per motion sample and per event.
const MaxBoxes = 16

// Event is one motion event, as the shell shows it.
type Event struct {
	ID    uint64    `json:"id"`
	Start time.Time `json:"start"`
	// End is zero while the event goes on.
	End time.Time `json:"end,omitzero"`
	// PeakPercent is the event's highest motion score, in percent of the
	// analysed picture (see Percent).
	PeakPercent float64   `json:"peak_percent"`
	PeakTime    time.Time `json:"peak_time,omitzero"`
	Boxes       []Box     `json:"boxes,omitempty"`
	// Clip names the clip recorded for the event, when there is one.
	Clip string `json:"clip,omitempty"`
}

// EventsResponse is the answer of PathEvents, oldest first.
type EventsResponse struct {
	Events []Event `json:"events"`
}

// Clip is one clip on the SD card (the fields of storage.ClipInfo the shell
// shows).
type Clip struct {
	Name      string        `json:"name"`
	Path      string        `json:"path"`
	State     string        `json:"state"`
	Size      int64         `json:"size"`
	Duration  time.Duration `json:"duration"`
	Frames    int           `json:"frames"`
	Start     time.Time     `json:"start"`
	EventTime time.Time     `json:"event_time,omitzero"`
	Events    []uint64      `json:"events,omitempty"`
	Codec     string        `json:"codec,omitempty"`
	Width     int           `json:"width,omitempty"`
	Height    int           `json:"height,omitempty"`
	SHA256    string        `json:"sha256,omitempty"`
	Thumbnail string        `json:"thumbnail,omitempty"`
	Manifest  string        `json:"manifest,omitempty"`
	// PeakPercent is the highest motion score in the clip, in percent of
	// the analysed picture (see Percent).
	PeakPercent float64 `json:"peak_percent,omitempty"`
	Recovered   bool    `json:"recovered,omitempty"`
}

// ClipsResponse is the answer of PathClips, oldest first.
type ClipsResponse struct {
	Clips []Clip `json:"clips"`
}

// VerifyResponse is the answer of PathClipVerify: one line per check, and
// whether every check passed.
type VerifyResponse struct {
	Lines []string `json:"lines"`
	OK    bool     `json:"ok"`
}

// Interface is one network interface of the camera.
type Interface struct {
	Name  string   `json:"name"`
	Up    bool     `json:"up"`
	Flags string   `json:"flags"`
	MTU   int      `json:"mtu"`
	MAC   string   `json:"mac,omitempty"`
	Addrs []string `json:"addrs,omitempty"`
}

// NetResponse is the answer of PathNet.
type NetResponse struct {
	Interfaces []Interface `json:"interfaces"`
}

// ConfigResponse is the answer of PathConfig: the running config (or the
// asked key) as TOML.
type ConfigResponse struct {
	Key  string `json:"key,omitempty"`
	TOML string `json:"toml"`
}

// MotionSample is what the motion detector saw in one frame.
type MotionSample struct {
	Seq          uint64    `json:"seq"` // the feed's, 1 for the first sample
	Frame        uint64    `json:"frame"`
	Time         time.Time `json:"time"`
	Motion       bool      `json:"motion"`
	ScorePercent float64   `json:"score_percent"` // see Percent
	Noise        float64   `json:"noise"`
	Threshold    float64   `json:"threshold"`
	Light        bool      `json:"light,omitempty"`
	Recalibrated bool      `json:"recalibrated,omitempty"`
	Boxes        []Box     `json:"boxes,omitempty"`
}

// MotionResponse is the answer of PathMotion, oldest first.
type MotionResponse struct {
	Samples []MotionSample `json:"samples"`
	Last    uint64         `json:"last"`
}

// StorageResponse is the answer of PathStorage: the card as probed now, and
// the clip store's counters when the store runs.
type StorageResponse struct {
	Mount      string        `json:"mount"`
	State      string        `json:"state"`
	Device     string        `json:"device,omitempty"`
	FSType     string        `json:"fs,omitempty"`
	FreeBytes  uint64        `json:"free_bytes"`
	TotalBytes uint64        `json:"total_bytes"`
	Error      string        `json:"error,omitempty"`
	Store      *StoreSummary `json:"store,omitempty"`
	// StoreMissing says why there are no store counters.
	StoreMissing string `json:"store_missing,omitempty"`
}

// StoreSummary is the clip store's part of StorageResponse.
type StoreSummary struct {
	Clips        int      `json:"clips"`
	Uploaded     int      `json:"uploaded"`
	Bytes        int64    `json:"bytes"`
	Recording    []string `json:"recording,omitempty"`
	Sealed       uint64   `json:"sealed"`
	Deleted      uint64   `json:"deleted"`
	BytesWritten uint64   `json:"bytes_written"`
	// The last recovery at start-up or card insertion.
	RecoveryAt        time.Time `json:"recovery_at,omitzero"`
	RecoverySealed    int       `json:"recovery_sealed"`
	RecoveryCutBytes  int64     `json:"recovery_cut_bytes"`
	RecoveryRemoved   int       `json:"recovery_removed"`
	RecoveryCompleted int       `json:"recovery_completed"`
	RecoveryOrphans   int       `json:"recovery_orphans"`
	RecoveryFailed    int       `json:"recovery_failed"`
}

// SnapshotResponse is the answer of PathSnapshot.
type SnapshotResponse struct {
	Path   string    `json:"path"`
	Bytes  int       `json:"bytes"`
	Width  int       `json:"width"`
	Height int       `json:"height"`
	Format string    `json:"format"`
	Frame  uint64    `json:"frame"`
	Time   time.Time `json:"time"`
}

// IDResponse is the answer of PathID. It never holds a private key.
type IDResponse struct {
	KeyPath      string     `json:"key_path"`
	DeviceID     string     `json:"device_id,omitempty"`
	PublicKeyPEM string     `json:"public_key_pem,omitempty"`
	KeyError     string     `json:"key_error,omitempty"`
	Certificate  *CertInfo  `json:"certificate,omitempty"`
	Owner        *OwnerInfo `json:"owner,omitempty"`
	// VendorKey describes the vendor's service key the agent trusts for
	// unlock, or says why there is none.
	VendorKey string `json:"vendor_key"`
}

// CertInfo describes the device certificate.
type CertInfo struct {
	Path      string    `json:"path"`
	Subject   string    `json:"subject,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// MatchesKey reports that the certificate is for the device key.
	MatchesKey bool   `json:"matches_key"`
	Error      string `json:"error,omitempty"`
}

// OwnerInfo describes the owner binding.
type OwnerInfo struct {
	Path     string    `json:"path"`
	Paired   bool      `json:"paired"`
	Verified bool      `json:"verified"`
	Account  string    `json:"account,omitempty"`
	OwnerKey string    `json:"owner_key,omitempty"` // sha256:<hex> of its SPKI
	Issued   time.Time `json:"issued,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// ChallengeResponse is the answer of PathChallenge.
type ChallengeResponse struct {
	Challenge string    `json:"challenge"`
	DeviceID  string    `json:"device_id"`
	Expires   time.Time `json:"expires"`
	// TTLSeconds is how long the challenge is valid, by the agent's clock.
	TTLSeconds float64 `json:"ttl_s"`
	// Keys names the keys whose signature the agent would accept now;
	// KeysProblem says why a key is missing (no vendor key, not paired).
	Keys        []string `json:"keys"`
	KeysProblem string   `json:"keys_problem,omitempty"`
}

// UnlockRequest is the body of PathUnlock.
type UnlockRequest struct {
	Response string `json:"response"`
}

// UnlockResponse is the answer of PathUnlock. Session is a secret: the shell
// keeps it in memory only and never prints it.
type UnlockResponse struct {
	Session    string    `json:"session"`
	Expires    time.Time `json:"expires"`
	TTLSeconds float64   `json:"ttl_s"`
	// By names the key that signed the response ("vendor key sha256:...",
	// "owner account ...").
	By string `json:"by"`
}

// SessionRequest is the body of PathLock and of the privileged actions.
type SessionRequest struct {
	Session string `json:"session"`
}

// ConfigSetRequest is the body of PathConfigSet.
type ConfigSetRequest struct {
	Session string `json:"session"`
	Key     string `json:"key"`
	Value   string `json:"value"`
}

// ConfigSetResponse is the answer of PathConfigSet.
type ConfigSetResponse struct {
	Path string `json:"path"`
	Key  string `json:"key"`
	// Old and New are the key's value as TOML before and after.
	Old string `json:"old"`
	New string `json:"new"`
	// Sections lists the config sections the change touches (the agent
	// restarts those parts when it reloads the file).
	Sections []string `json:"sections"`
}

// ActionResponse is the answer of a privileged action.
type ActionResponse struct {
	Message string `json:"message"`
}
