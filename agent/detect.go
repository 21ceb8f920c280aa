package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/motion"
	"github.com/camagent/camagent/capture/y4m"
)

// maxDetectConfig bounds the size of the -config file.
const maxDetectConfig = 1 << 20

// detectCmd is `camagent detect`: the motion detector, as the agent runs it,
// over a Y4M file. It prints one JSON line per frame of the file (frame index
// from 0, boxes [x, y, w, h] in the input's pixels) and a last line
// {"summary":{...}} with the counts, the events, the detector's time per
// frame and, per filter, the frames in which it took motion away. Users tune the [motion] settings on recorded footage with it.
func detectCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "the Y4M `file` to analyse (required)")
	configPath := fs.String("config", "", "a TOML `file` whose [motion] table sets the detector (default: the built-in defaults)")
	var zones zoneFlags
	fs.Var(&zones, "zone", "add a `zone`: [include:|exclude:]x,y x,y x,y... in frame-relative coordinates 0..1 (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: camagent detect -input FILE.y4m [-config FILE] [-zone ZONE]...\n\n"+
			"Runs motion detection over a Y4M file and prints one JSON line per frame,\n"+
			`{"frame":N,"motion":true|false,"score_percent":S,"boxes":[[x,y,w,h],...]}, then {"summary":{...}}.`+"\n"+
			"score_percent is the part of the analysed picture in motion, in percent, the unit of\n"+
			"[motion] min_area_percent and of every score the agent shows.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *input == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadMotionConfig(*configPath)
	if err != nil {
		return err
	}
	cfg.Zones = append(cfg.Zones, zones...)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("detect: %w", err)
	}

	f, err := os.Open(*input)
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	defer f.Close()
	// Frame n is stamped origin + n/fps, so event times read as seconds.
	origin := time.Unix(0, 0).UTC()
	src, err := y4m.NewReader(f, y4m.ReaderOptions{Start: origin})
	if err != nil {
		return fmt.Errorf("detect: %s: %w", *input, err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := motion.New(cfg, src.Format(), logger)
	if err != nil {
		return fmt.Errorf("detect: %s: %w", *input, err)
	}

	out := bufio.NewWriter(stdout)
	sum := detectSummary{Input: *input, Format: src.Format().String()}
	sum.Grid[0], sum.Grid[1], sum.Grid[2] = d.Grid()
	var busy time.Duration
	var line []byte
	addEvent := func(ev *motion.Event) {
		e := summaryEvent{ID: ev.ID, StartFrame: ev.StartFrame, EndFrame: ev.EndFrame, PeakFrame: ev.PeakFrame,
			Start: ev.Start.Sub(origin).Seconds(), End: ev.End.Sub(origin).Seconds(), PeakPercent: control.Percent(ev.PeakScore), Boxes: [][4]int{}}
		for _, b := range ev.Boxes {
			e.Boxes = append(e.Boxes, [4]int{b.X, b.Y, b.W, b.H})
		}
		sum.Events = append(sum.Events, e)
	}
	for {
		fr, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, capture.ErrBadFrame) {
			// The reader counted it; its index is the next Seq.
			line = appendBadFrame(line[:0], uint64(sum.Frames), err)
			sum.Frames++
			sum.BadFrames++
			if _, err := out.Write(line); err != nil {
				return fmt.Errorf("detect: %w", err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("detect: %s: %w", *input, err)
		}
		start := time.Now()
		res, err := d.Process(fr)
		busy += time.Since(start)
		seq := fr.Seq
		fr.Release()
		sum.Frames = int(seq) + 1
		if err != nil {
			sum.BadFrames++
			line = appendBadFrame(line[:0], seq, err)
		} else {
			if res.Motion {
				sum.MotionFrames++
			}
			if res.Ended != nil {
				addEvent(res.Ended)
			}
			line = appendFrame(line[:0], seq, &res)
		}
		if _, err := out.Write(line); err != nil {
			return fmt.Errorf("detect: %w", err)
		}
	}
	if ev := d.Flush(); ev != nil {
		addEvent(ev)
	}
	if good := sum.Frames - sum.BadFrames; good > 0 {
		sum.MsPerFrame = float64(busy.Microseconds()) / 1000 / float64(good)
	}
	st := d.Stats()
	sum.LightChanges, sum.Recalibrations = st.LightChanges, st.Recalibrations
	sum.Filtered = st.Filtered
	if sum.Events == nil {
		sum.Events = []summaryEvent{}
	}
	b, err := json.Marshal(struct {
		Summary detectSummary `json:"summary"`
	}{sum})
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	out.Write(b)
	out.WriteByte('\n')
	if err := out.Flush(); err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	return nil
}

type detectSummary struct {
	Input          string         `json:"input"`
	Format         string         `json:"format"`
	Grid           [3]int         `json:"grid"` // width, height, cell side in pixels
	Frames         int            `json:"frames"`
	BadFrames      int            `json:"bad_frames"`
	MotionFrames   int            `json:"motion_frames"`
	Events         []summaryEvent `json:"events"`
	MsPerFrame     float64        `json:"ms_per_frame"`
	LightChanges   uint64         `json:"light_changes"`
	Recalibrations uint64         `json:"recalibrations"`
	// Filtered counts, per filter (shake, shadow, particles), the frames in
	// which it took motion away: why a change was not reported.
	Filtered motion.Filtered `json:"filtered"`
}

type summaryEvent struct {
	ID          uint64   `json:"id"`
	StartFrame  uint64   `json:"start_frame"`
	EndFrame    uint64   `json:"end_frame"`
	Start       float64  `json:"start_s"` // seconds from the first frame
	End         float64  `json:"end_s"`
	PeakFrame   uint64   `json:"peak_frame"`
	PeakPercent float64  `json:"peak_percent"`
	Boxes       [][4]int `json:"boxes"` // at the peak
}

// appendFrame appends one frame's JSON line without allocating.
func appendFrame(b []byte, seq uint64, r *motion.Result) []byte {
	b = append(b, `{"frame":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"motion":`...)
	b = strconv.AppendBool(b, r.Motion)
	b = append(b, `,"score_percent":`...)
	b = strconv.AppendFloat(b, control.Percent(r.Score), 'f', 3, 64)
	b = append(b, `,"boxes":[`...)
	for i, x := range r.Boxes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(x.X), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(x.Y), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(x.W), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(x.H), 10)
		b = append(b, ']')
	}
	return append(b, "]}\n"...)
}

// appendBadFrame appends the line of a frame that could not be read.
func appendBadFrame(b []byte, seq uint64, err error) []byte {
	b = append(b, `{"frame":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"motion":false,"score_percent":0,"boxes":[],"bad":true,"error":`...)
	b = strconv.AppendQuote(b, err.Error())
	return append(b, "}\n"...)
}

// loadMotionConfig returns the defaults overlaid with the [motion] table of
// a TOML file (the agent's configuration file, or one holding only that
// table). Unknown keys in [motion] are refused by name; other tables are
// ignored.
func loadMotionConfig(path string) (motion.Config, error) {
	cfg := motion.DefaultConfig()
	if path == "" {
		return cfg, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return cfg, fmt.Errorf("detect: config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDetectConfig+1))
	if err != nil {
		return cfg, fmt.Errorf("detect: config: %w", err)
	}
	if len(data) > maxDetectConfig {
		return cfg, fmt.Errorf("detect: config %s: larger than %d bytes", path, maxDetectConfig)
	}
	file := struct {
		Motion motion.Config `toml:"motion"`
	}{cfg}
	md, err := toml.Decode(string(data), &file)
	if err != nil {
		return cfg, fmt.Errorf("detect: config %s: %w", path, err)
	}
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] == "motion" {
			return cfg, fmt.Errorf("detect: config %s: unknown key %s", path, k.String())
		}
	}
	if err := file.Motion.Validate(); err != nil {
		return cfg, fmt.Errorf("detect: config %s: %w", path, err)
	}
	return file.Motion, nil
}

// zoneFlags collects -zone values.
type zoneFlags []motion.Zone

func (z *zoneFlags) String() string { return fmt.Sprint(len(*z), " zones") }

// Set parses "[include:|exclude:]x,y x,y x,y...".
func (z *zoneFlags) Set(s string) error {
	zone := motion.Zone{}
	if kind, rest, ok := strings.Cut(s, ":"); ok {
		switch kind {
		case "include":
		case "exclude":
			zone.Exclude = true
		default:
			return fmt.Errorf("zone kind %q: want include or exclude", kind)
		}
		s = rest
	}
	for _, p := range strings.Fields(s) {
		xs, ys, ok := strings.Cut(p, ",")
		if !ok {
			return fmt.Errorf("zone point %q: want x,y", p)
		}
		x, err := strconv.ParseFloat(xs, 64)
		if err != nil {
			return fmt.Errorf("zone point %q: %w", p, err)
		}
		y, err := strconv.ParseFloat(ys, 64)
		if err != nil {
			return fmt.Errorf("zone point %q: %w", p, err)
		}
		zone.Polygon = append(zone.Polygon, [2]float64{x, y})
	}
	if len(zone.Polygon) < 3 {
		return errors.New("a zone needs at least 3 points")
	}
	*z = append(*z, zone)
	return nil
}
