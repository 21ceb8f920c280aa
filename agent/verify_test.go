package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/manifest"
)

// A clip and a thumbnail whose first bytes sniff as video/mp4 and image/jpeg.
var (
	testClip  = append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), bytes.Repeat([]byte("moof"), 100)...)
	testThumb = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), bytes.Repeat([]byte{0x55}, 50)...)
)

type verifyFixture struct {
	dir, clip, thumb, sidecar string
	id, otherID               string
	pubPEM, otherPEM          string
}

func newVerifyFixture(t *testing.T) verifyFixture {
	t.Helper()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fx := verifyFixture{dir: dir, clip: filepath.Join(dir, "120304-e7.mp4"), thumb: filepath.Join(dir, "120304-e7.jpg")}
	fx.sidecar = manifest.SidecarPath(fx.clip)
	fx.id, _ = identity.DeviceID(&key.PublicKey)
	fx.otherID, _ = identity.DeviceID(&other.PublicKey)
	co, _ := manifest.HashObject(manifest.RoleClip, "video/mp4", bytes.NewReader(testClip))
	to, _ := manifest.HashObject(manifest.RoleThumbnail, "image/jpeg", bytes.NewReader(testThumb))
	cose, err := manifest.Sign(manifest.Manifest{
		Owner: "acct-1", Seq: 42, BootID: "boot-1", StartMS: 1_750_000_000_000, EndMS: 1_750_000_010_000,
		ClockTrusted: true, Objects: []manifest.Object{co, to},
		Motion: manifest.Motion{PeakPPM: 250_000, Boxes: 2},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, fx.clip, testClip)
	writeTestFile(t, fx.thumb, testThumb)
	writeTestFile(t, fx.sidecar, cose)
	fx.pubPEM, fx.otherPEM = filepath.Join(dir, "pub.pem"), filepath.Join(dir, "other.pem")
	p, _ := identity.PublicKeyPEM(&key.PublicKey)
	writeTestFile(t, fx.pubPEM, p)
	p, _ = identity.PublicKeyPEM(&other.PublicKey)
	writeTestFile(t, fx.otherPEM, p)
	return fx
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCmd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, fx verifyFixture) []string // returns args
		want  []string                                      // lines that must appear
		fails int                                           // FAIL lines expected
	}{
		{"sidecar, self-certified", func(t *testing.T, fx verifyFixture) []string { return []string{fx.clip} },
			[]string{"manifest $dir/120304-e7.manifest\n", "OK   signature: valid, made by the key the manifest carries", "OK   $clip: clip, video/mp4",
				"OK   $thumb: thumbnail, image/jpeg", "INFO device: $id (not checked", "INFO seq 42, boot boot-1", "clock trusted", "prev none (first manifest"}, 0},
		{"sidecar of the thumbnail", func(t *testing.T, fx verifyFixture) []string { return []string{fx.thumb, fx.clip} },
			[]string{"OK   $thumb: thumbnail", "OK   $clip: clip"}, 0},
		{"sidecar, no thumbnail", func(t *testing.T, fx verifyFixture) []string {
			os.Remove(fx.thumb)
			return []string{fx.clip}
		}, []string{"OK   $clip: clip", "SKIP thumbnail: no file given"}, 0},
		{"manifest and both files", func(t *testing.T, fx verifyFixture) []string { return []string{fx.sidecar, fx.clip, fx.thumb} },
			[]string{"OK   $clip: clip", "OK   $thumb: thumbnail, image/jpeg"}, 0},
		{"pinned device", func(t *testing.T, fx verifyFixture) []string { return []string{"-pin", fx.id, fx.clip} },
			[]string{"OK   device: $id is the pinned device"}, 0},
		{"pinned key and owner", func(t *testing.T, fx verifyFixture) []string {
			return []string{"-key", fx.pubPEM, "-owner", "acct-1", fx.clip}
		}, []string{"OK   signature: valid, made by device $id with the key given by -key", `OK   owner: "acct-1"`}, 0},
		{"another device pinned", func(t *testing.T, fx verifyFixture) []string { return []string{"-pin", fx.otherID, fx.clip} },
			[]string{"FAIL device: manifest is from $id, expected $other", "(against an UNVERIFIED manifest)"}, 1},
		{"another device's key", func(t *testing.T, fx verifyFixture) []string { return []string{"-key", fx.otherPEM, fx.clip} },
			[]string{"FAIL signature: manifest: verify: manifest: key does not match device ID: signed as $id, the key given is $other"}, 1},
		{"wrong owner", func(t *testing.T, fx verifyFixture) []string { return []string{"-owner", "acct-2", fx.clip} },
			[]string{`FAIL owner: manifest names "acct-1", expected "acct-2"`}, 1},
		{"flipped byte in clip", func(t *testing.T, fx verifyFixture) []string {
			b := bytes.Clone(testClip)
			b[len(b)-1] ^= 1
			writeTestFile(t, fx.clip, b)
			return []string{fx.clip}
		}, []string{"FAIL $clip: clip: sha256 is ", "(content changed)", "OK   $thumb: thumbnail"}, 1},
		{"truncated clip", func(t *testing.T, fx verifyFixture) []string {
			writeTestFile(t, fx.clip, testClip[:100])
			return []string{fx.clip}
		}, []string{"FAIL $clip: clip: size is 100 bytes, manifest says 424"}, 1},
		{"another thumbnail", func(t *testing.T, fx verifyFixture) []string {
			writeTestFile(t, fx.thumb, append(bytes.Clone(testThumb), 1))
			return []string{fx.sidecar, fx.clip, fx.thumb}
		}, []string{"OK   $clip: clip", "FAIL $thumb: thumbnail: size is 62 bytes, manifest says 61"}, 1},
		{"unrelated file", func(t *testing.T, fx verifyFixture) []string {
			p := filepath.Join(fx.dir, "notes.txt")
			writeTestFile(t, p, []byte("hello"))
			return []string{fx.sidecar, p}
		}, []string{"FAIL $dir/notes.txt: covered by no object of the manifest (5 bytes"}, 1},
		{"tampered manifest", func(t *testing.T, fx verifyFixture) []string {
			b, _ := os.ReadFile(fx.sidecar)
			i := bytes.Index(b, []byte("boot-1"))
			b[i+5] = '2'
			writeTestFile(t, fx.sidecar, b)
			return []string{fx.clip}
		}, []string{"FAIL signature: ", "bad signature", "OK   $clip: clip, video/mp4, 424 bytes", "(against an UNVERIFIED manifest)"}, 1},
		{"thumbnail of another clip next to it", func(t *testing.T, fx verifyFixture) []string {
			writeTestFile(t, fx.thumb, append([]byte("\xff\xd8\xff\xe0"), make([]byte, 57)...))
			return []string{fx.clip}
		}, []string{"OK   $clip: clip", "FAIL $thumb: thumbnail: sha256 is"}, 1},
		{"no sidecar", func(t *testing.T, fx verifyFixture) []string {
			os.Remove(fx.sidecar)
			return []string{fx.clip}
		}, []string{"FAIL manifest: open $sidecar: no such file", "FAIL $clip: not checked: no manifest", "FAIL $thumb: not checked"}, 3},
		{"garbage manifest", func(t *testing.T, fx verifyFixture) []string {
			writeTestFile(t, fx.sidecar, []byte("not a manifest"))
			return []string{fx.clip}
		}, []string{"FAIL format: manifest: parse: manifest: malformed", "FAIL $clip: not checked: the manifest is unreadable"}, 3},
		{"missing file", func(t *testing.T, fx verifyFixture) []string {
			return []string{fx.sidecar, filepath.Join(fx.dir, "gone.mp4")}
		}, []string{"FAIL $dir/gone.mp4: open "}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newVerifyFixture(t)
			args := tc.setup(t, fx)
			var out, errOut strings.Builder
			err := verifyCmd(context.Background(), args, &out, &errOut)
			text := out.String()
			repl := strings.NewReplacer("$clip", fx.clip, "$thumb", fx.thumb, "$sidecar", fx.sidecar,
				"$id", fx.id, "$other", fx.otherID, "$dir", fx.dir)
			for _, w := range tc.want {
				if w = repl.Replace(w); !strings.Contains(text, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if got := strings.Count(text, "\nFAIL "); got != tc.fails {
				t.Errorf("%d FAIL lines, want %d", got, tc.fails)
			}
			if (err != nil) != (tc.fails > 0) {
				t.Errorf("err = %v with %d failures", err, tc.fails)
			}
			if t.Failed() {
				t.Logf("output:\n%s", text)
			}
		})
	}
}

func TestVerifyCmdUsage(t *testing.T) {
	fx := newVerifyFixture(t)
	for _, args := range [][]string{
		{},
		{"-key", fx.pubPEM, "-pin", fx.id, fx.clip},
		{"-pin", "cam-nope", fx.clip},
		{"-key", fx.clip, fx.clip},
	} {
		var out, errOut strings.Builder
		if err := verifyCmd(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestVerifyCmdSeveralClips(t *testing.T) {
	a, b := newVerifyFixture(t), newVerifyFixture(t)
	var out strings.Builder
	if err := verifyCmd(context.Background(), []string{a.clip, b.clip}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if strings.Count(out.String(), "OK   signature") != 2 || strings.Count(out.String(), "FAIL") != 0 {
		t.Fatalf("output:\n%s", out.String())
	}
}
