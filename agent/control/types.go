package control

import (
	"time"

	"github.com/camagent/camagent/board/timesync"
	"github.com/camagent/camagent/capture/motion"
	"github.com/camagent/camagent/storage"
	clipsrec "github.com/camagent/camagent/storage/recorder"
	"github.com/camagent/camagent/uplink/mqtt"
)

// DefaultSocket is where the agent listens unless configured otherwise.
const DefaultSocket = "/run/camagent.sock"

// Route paths served by the agent.
const (
	// PathStatus answers GET with a Status.
	PathStatus = "/v1/status"
	// PathLogs answers GET with a LogsResponse; the query parameter n asks for
	// the last n lines (default DefaultLogLines, at most MaxLogLines).
	PathLogs = "/v1/logs"
	// PathCaptureControl takes a POST of a CaptureControl: set a V4L2
	// control (by its driver name) on the running camera. A write route.
	PathCaptureControl = "/v1/capture/control"

	// PathUploads is the upload queue: GET answers an upload.Status.
	PathUploads = "/v1/uploads"
)

// Limits of the logs route.
const (
	DefaultLogLines = 100
	MaxLogLines     = 5000
)

// Part states reported in PartStatus.State.
const (
	PartStarting = "starting"
	PartRunning  = "running"
	PartBackoff  = "backoff"
	PartStopped  = "stopped"
	PartFailed   = "failed"
)

// Status is the agent's answer to GET /v1/status.
type Status struct {
	Version       string        `json:"version"`
	Started       time.Time     `json:"started"`
	UptimeSeconds float64       `json:"uptime_s"`
	ConfigPath    string        `json:"config_path"`
	ConfigHash    string        `json:"config_hash"`
	ConfigLoaded  time.Time     `json:"config_loaded"`
	Parts         []PartStatus  `json:"parts"`
	Capture       CaptureStatus `json:"capture"`
	Storage       StorageStatus `json:"storage"`
	// Motion, Recorder and Clips are present once those parts have run.
	Motion   *MotionStatus        `json:"motion,omitempty"`
	Recorder *clipsrec.Status     `json:"recorder,omitempty"`
	Clips    *storage.StoreStatus `json:"clips,omitempty"`
	// Identity is the device ID and its pairing, once the key is open.
	Identity *IdentityStatus `json:"identity,omitempty"`
	// Time is whether the clock is trusted (board/timesync).
	Time *timesync.Status `json:"time,omitempty"`
	// MQTT is the event/command client's state while it runs.
	MQTT *mqtt.Status `json:"mqtt,omitempty"`
	// Live is live view's sessions while it serves.
	Live *LiveStatus `json:"live,omitempty"`
	// Memory is the memory budget, what the process uses and each pool's fill.
	Memory *MemoryStatus `json:"memory,omitempty"`
}

// LiveStatus is live view's state (the daemon copies it from uplink/live,
// so that this package, and a build without live view, does not link
// pion).
type LiveStatus struct {
	Viewers     int                 `json:"viewers"`
	MaxViewers  int                 `json:"max_viewers"`
	Accepted    uint64              `json:"offers_accepted"`
	Refused     uint64              `json:"offers_refused"`
	Dropped     uint64              `json:"offers_dropped"`
	LastRefusal string              `json:"last_refusal,omitempty"`
	Sessions    []LiveSessionStatus `json:"sessions"`
}

// LiveSessionStatus is one viewer session.
type LiveSessionStatus struct {
	ID      string    `json:"id"`
	Media   string    `json:"media"`
	State   string    `json:"state"`
	Started time.Time `json:"started"`
	Sent    uint64    `json:"frames_sent"`
	Skipped uint64    `json:"frames_skipped"`
	Bytes   uint64    `json:"bytes_sent"`
}

// MemoryStatus is the memory budget (package agent/budget) against what
// the process really uses.
type MemoryStatus struct {
	// BudgetBytes is the allowance (board profile or memory_mb); RSSBytes
	// the resident size the kernel counts (0 when unknown), RSSFileBytes
	// its file-backed and shared part (the binary's code the kernel paged
	// in, mapped driver buffers; the rest is anonymous: heap, runtime,
	// stacks). ChargedBytes is what the budget holds against BudgetBytes:
	// the anonymous part, and the file-backed part up to the plan's
	// allowance for code and driver buffers (budget.Resident.Charged).
	BudgetBytes  int64 `json:"budget_bytes"`
	RSSBytes     int64 `json:"rss_bytes"`
	RSSFileBytes int64 `json:"rss_file_bytes"`
	ChargedBytes int64 `json:"charged_bytes"`
	// HeapBytes is the Go heap's live and not yet collected objects;
	// GoBytes all the memory the Go runtime holds (mapped, less what it
	// returned to the kernel): what the Go memory limit counts.
	HeapBytes uint64 `json:"heap_bytes"`
	GoBytes   uint64 `json:"go_bytes"`
	// GoBytes in parts besides HeapBytes (runtime/metrics' classes):
	// HeapFreeBytes the heap's pages held but holding no object (free
	// and unused spans, not yet returned to the kernel), StacksBytes the
	// goroutine and system stacks, RuntimeBytes the runtime's own (GC
	// metadata, span and cache structures, profiling buckets, other).
	HeapFreeBytes uint64 `json:"heap_free_bytes,omitempty"`
	StacksBytes   uint64 `json:"stacks_bytes,omitempty"`
	RuntimeBytes  uint64 `json:"runtime_bytes,omitempty"`
	// GCCycles is how many collections the runtime has completed: over a
	// Go memory limit the runtime has to exceed, it collects back to back.
	GCCycles uint64 `json:"gc_cycles,omitempty"`
	// GoLimitBytes and GCPercent are what the agent set (the Go memory
	// limit, the GC target); 0 and 0 when it set nothing (tests).
	GoLimitBytes int64 `json:"go_limit_bytes"`
	GCPercent    int   `json:"gc_percent"`
	// PeakBytes is the plan's expected peak; Degraded what the plan gave
	// up to fit, in order; OverBytes how far it misses even so.
	PeakBytes int64        `json:"peak_bytes"`
	Degraded  []string     `json:"degraded,omitempty"`
	OverBytes int64        `json:"over_bytes,omitempty"`
	Pools     []PoolStatus `json:"pools"`
}

// PoolStatus is the fill of one bounded pool or queue.
type PoolStatus struct {
	Name string `json:"name"`
	Used int64  `json:"used"`
	Size int64  `json:"size"`
	// Unit is what Used and Size count: "frames", "bytes", "viewers", "messages".
	Unit string `json:"unit"`
	// Made, for a pool that makes its buffers on first use and drops free
	// ones when memory is released (the frame pool), is how many buffers
	// exist now: what the pool costs in memory, where Used is what is busy.
	Made int64 `json:"made,omitempty"`
}

// PathMQTTEvents answers GET with an MQTTEventsResponse.
const PathMQTTEvents = "/v1/mqtt/events"

// MQTTEventsResponse is the messages the MQTT client queued or published
// this run, oldest first, rendered for people (event.Render).
type MQTTEventsResponse struct {
	Lines []string `json:"lines"`
}

// IdentityStatus is who the device is and whom it is paired with. It never
// holds key material beyond the public ID.
type IdentityStatus struct {
	DeviceID string `json:"device_id"`
	// Owner is the owner account from the cloud-signed owner binding; ""
	// while the device is not paired.
	Owner string `json:"owner"`
}

// MotionStatus is the detector's counters and the newest frame's result.
type MotionStatus struct {
	motion.Stats
	// ScorePercent is the newest frame's motion score, in percent of the
	// analysed picture (see Percent).
	ScorePercent float64 `json:"score_percent"`
	// Threshold is the luma difference (0..255) that counted as change.
	Threshold float64      `json:"threshold"`
	Boxes     []motion.Box `json:"boxes"`
	Recent    []Event      `json:"recent_events,omitempty"` // newest last
}

// CaptureControl asks the agent to set a V4L2 control on the camera.
type CaptureControl struct {
	Name  string `json:"name"`
	Value int32  `json:"value"`
}

// PartStatus is the lifecycle state of one long-running part of the agent.
type PartStatus struct {
	Name string `json:"name"`
	// State is one of PartStarting, PartRunning, PartBackoff, PartStopped,
	// PartFailed.
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	Restarts  int       `json:"restarts"`
	LastError string    `json:"last_error,omitempty"`
}

// CaptureStatus describes the camera and the frames it delivers.
type CaptureStatus struct {
	Device string `json:"device"`
	State  string `json:"state"`
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Stride int    `json:"stride"`
	// FPS is the measured frame rate; NegotiatedFPS is what the driver agreed to.
	FPS           float64       `json:"fps"`
	NegotiatedFPS float64       `json:"negotiated_fps"`
	Frames        uint64        `json:"frames"`
	Dropped       uint64        `json:"dropped"`
	BadFrames     uint64        `json:"bad_frames"`
	Queues        []QueueStatus `json:"queues,omitempty"`
}

// QueueStatus is the counters of one consumer's frame queue.
type QueueStatus struct {
	Name      string `json:"name"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
}

// StorageStatus describes the SD card.
type StorageStatus struct {
	Mount      string `json:"mount"`
	State      string `json:"state"`
	FreeBytes  uint64 `json:"free_bytes"`
	TotalBytes uint64 `json:"total_bytes"`
}

// LogsResponse is the agent's answer to GET /v1/logs: the last lines of its
// log, oldest first.
type LogsResponse struct {
	Lines []string `json:"lines"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}
