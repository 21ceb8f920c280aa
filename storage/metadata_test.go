package storage_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/camagent/camagent/storage"
)

const goodMetadata = `{
  "version": 1,
  "name": "2026/05/14/153012-e42",
  "events": [42, 43],
  "event_time": "2026-05-14T15:30:14Z",
  "start": "2026-05-14T15:30:12.25Z",
  "end": "2026-05-14T15:30:22.15Z",
  "duration_ms": 10000,
  "frames": 100,
  "codec": "mjpeg",
  "width": 640,
  "height": 480,
  "size": 123456,
  "sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  "part": 1,
  "peak_score": 0.75,
  "thumbnail": "153012-e42.jpg",
  "thumbnail_size": 9000,
  "thumbnail_sha256": "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  "sealed": "2026-05-14T15:30:23Z",
  "future_field": {"ignored": true}
}`

var metadataTests = []struct {
	name string
	data string
	ok   bool
}{
	{"good", goodMetadata, true},
	{"recovered h264 without thumbnail", `{"version":1,"name":"2026/05/14/153012-e1-2","events":[1],"start":"2026-05-14T15:30:12Z","end":"2026-05-14T15:30:12Z","duration_ms":0,"frames":1,"codec":"h264","width":320,"height":240,"size":10,"sha256":"` + strings.Repeat("a", 64) + `","part":0,"recovered":true,"sealed":"2026-05-14T15:30:23Z"}`, true},
	{"version 2", strings.Replace(goodMetadata, `"version": 1`, `"version": 2`, 1), false},
	{"bad codec", strings.Replace(goodMetadata, `"mjpeg"`, `"vp8"`, 1), false},
	{"bad name", strings.Replace(goodMetadata, `153012-e42"`, `153012-x42"`, 1), false},
	{"bad hash", strings.Replace(goodMetadata, `"0123456789abcdef`, `"0123456789ABCDEF`, 1), false},
	{"negative frames", strings.Replace(goodMetadata, `"frames": 100`, `"frames": -1`, 1), false},
	{"ends before it starts", strings.Replace(goodMetadata, `15:30:22.15Z`, `15:30:02Z`, 1), false},
	{"thumbnail elsewhere", strings.Replace(goodMetadata, `"153012-e42.jpg"`, `"../../153012-e42.jpg"`, 1), false},
	{"thumbnail not a jpg", strings.Replace(goodMetadata, `"153012-e42.jpg"`, `"153012-e42.mp4"`, 1), false},
	{"two objects", goodMetadata + goodMetadata, false},
	{"not json", "{", false},
	{"too big", `{"version":1,"pad":"` + strings.Repeat("x", storage.MaxMetadataSize) + `"}`, false},
	{"too many events", strings.Replace(goodMetadata, `[42, 43]`, "["+strings.Repeat("1,", storage.MaxClipEvents)+"1]", 1), false},
	{"huge size", strings.Replace(goodMetadata, `"width": 640`, `"width": 70000`, 1), false},
}

func TestParseMetadata(t *testing.T) {
	for _, tc := range metadataTests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := storage.ReadMetadata(strings.NewReader(tc.data))
			if (err == nil) != tc.ok {
				t.Fatalf("ReadMetadata = %+v, %v", m, err)
			}
			if err != nil && !errors.Is(err, storage.ErrBadMetadata) {
				t.Errorf("error %v is not ErrBadMetadata", err)
			}
		})
	}
}

func FuzzParseMetadata(f *testing.F) {
	for _, tc := range metadataTests {
		if len(tc.data) < 4096 {
			f.Add([]byte(tc.data))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := storage.ParseMetadata(data)
		if err != nil {
			return
		}
		// What parses survives being written and read again unchanged.
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := storage.ParseMetadata(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(normal(m), normal(again)) {
			t.Fatalf("round trip changed it:\n%+v\n%+v", m, again)
		}
	})
}

// normal makes times comparable with DeepEqual (monotonic and location
// details differ after a round trip).
func normal(m storage.Metadata) storage.Metadata {
	m.EventTime, m.Start, m.End, m.PeakTime, m.Sealed = m.EventTime.UTC(), m.Start.UTC(), m.End.UTC(), m.PeakTime.UTC(), m.Sealed.UTC()
	if len(m.Events) == 0 {
		m.Events = nil
	}
	return m
}
