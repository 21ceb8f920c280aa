package protocol

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"Thu, 14 May 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Thursday, 14-May-26 12:01:00 GMT", time.Minute, true}, // RFC 850
		{"Thu May 14 12:00:05 2026", 5 * time.Second, true},     // asctime
		{"Thu, 14 May 2026 11:00:00 GMT", 0, true},              // in the past
		{"Fri, 15 May 2026 12:00:00 GMT", MaxRetryAfter, true},  // capped
		{"99999999999999999999999", MaxRetryAfter, true},
		{"86400", MaxRetryAfter, true},
		{"", 0, false},
		{"-5", 0, false},
		{"5s", 0, false},
		{"1.5", 0, false},
		{"tomorrow", 0, false},
		{strings.Repeat("9", 100), 0, false},
	}
	for _, tc := range tests {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseOffset(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"12345", 12345, true}, {"9007199254740992", MaxOffset, true},
		{"9007199254740993", 0, false}, {"", 0, false}, {"00", 0, false}, {"01", 0, false},
		{"-1", 0, false}, {"+1", 0, false}, {"1e3", 0, false}, {" 1", 0, false}, {"18446744073709551616", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseOffset(tc.in)
		if got != tc.want || (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadOffset)) {
			t.Errorf("ParseOffset(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestParseSHA256(t *testing.T) {
	good := strings.Repeat("0123456789abcdef", 4)
	if h, err := ParseSHA256(good); err != nil || FormatSHA256(h) != good {
		t.Errorf("ParseSHA256(good) = %x, %v", h, err)
	}
	for _, bad := range []string{"", good[:63], good + "0", strings.ToUpper(good), "g" + good[1:], good[:62] + "%2"} {
		if _, err := ParseSHA256(bad); !errors.Is(err, ErrBadSHA256) {
			t.Errorf("ParseSHA256(%q): %v, want ErrBadSHA256", bad, err)
		}
	}
}

// answerCases are decoder inputs, valid and not; they seed the fuzzer.
var answerCases = []struct {
	name, in string
	ok       bool
}{
	{"manifest answer", `{"device":"cam-x","seq":3,"complete":false,"missing":[{"sha256":"` + strings.Repeat("ab", 32) + `","role":"clip","size":10,"offset":4}]}`, true},
	{"complete", `{"device":"cam-x","seq":3,"replay":true,"complete":true,"missing":[]}`, true},
	{"unknown field", `{"device":"cam-x","seq":3,"complete":true,"missing":[],"extra":1}`, false},
	{"trailing data", `{"device":"cam-x","seq":3,"complete":true,"missing":[]} {}`, false},
	{"offset beyond size", `{"device":"cam-x","seq":3,"complete":false,"missing":[{"sha256":"` + strings.Repeat("ab", 32) + `","role":"clip","size":10,"offset":11}]}`, false},
	{"bad sha", `{"device":"cam-x","seq":3,"complete":false,"missing":[{"sha256":"zz","role":"clip","size":10,"offset":0}]}`, false},
	{"too many", `{"missing":[` + strings.Repeat(`{"sha256":"`+strings.Repeat("ab", 32)+`"},`, 16) + `{"sha256":"` + strings.Repeat("ab", 32) + `"}]}`, false},
	{"not JSON", `<html>502 Bad Gateway</html>`, false},
	{"huge", `{"device":"` + strings.Repeat("x", MaxAnswer) + `"}`, false},
}

func TestDecodeManifestAnswer(t *testing.T) {
	for _, tc := range answerCases {
		_, err := DecodeManifestAnswer(strings.NewReader(tc.in))
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrDecode)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestDecodeErrorAndObjectAnswers(t *testing.T) {
	if a, err := DecodeErrorAnswer(strings.NewReader(`{"error":"x","code":"busy","offset":5}`)); err != nil || a.Code != CodeBusy || *a.Offset != 5 {
		t.Errorf("error answer: %+v %v", a, err)
	}
	if _, err := DecodeErrorAnswer(strings.NewReader(`{"error":"no code"}`)); err == nil {
		t.Error("error answer without a code accepted")
	}
	sha := strings.Repeat("cd", 32)
	if a, err := DecodeObjectAnswer(strings.NewReader(`{"sha256":"` + sha + `","size":9,"offset":9,"complete":true}`)); err != nil || !a.Complete {
		t.Errorf("object answer: %+v %v", a, err)
	}
	if _, err := DecodeObjectAnswer(strings.NewReader(`{"sha256":"` + sha + `","size":9,"offset":10}`)); err == nil {
		t.Error("object answer with offset beyond size accepted")
	}
}

// FuzzDecodeAnswers: the device's decoders of the ingest's answers never
// panic, and what they accept is within their limits.
func FuzzDecodeAnswers(f *testing.F) {
	for _, tc := range answerCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := DecodeManifestAnswer(strings.NewReader(string(b))); err == nil {
			if len(a.Missing) > MaxMissing {
				t.Fatalf("accepted %d missing objects", len(a.Missing))
			}
			for _, m := range a.Missing {
				if m.Offset > m.Size {
					t.Fatalf("accepted offset %d beyond size %d", m.Offset, m.Size)
				}
			}
		}
		_, _ = DecodeObjectAnswer(strings.NewReader(string(b)))
		_, _ = DecodeErrorAnswer(strings.NewReader(string(b)))
		_, _ = DecodeItemList(strings.NewReader(string(b)))
		_, _ = ParseRetryAfter(string(b), time.Unix(0, 0))
	})
}
