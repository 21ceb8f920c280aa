package config

import (
	"strings"
	"testing"
)

func TestLiveSection(t *testing.T) {
	good := "[live]\nmax_viewers = 4\nfps = 2.5\nice_servers = [\"stun:stun.example.org:3478\", \"turns:turn.example.org:5349\"]\nturn_username = \"cam\"\nturn_credential_file = \"/etc/camagent/turn\"\n"
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Live.MaxViewers != 4 || c.Live.FPS != 2.5 || len(c.Live.ICEServers) != 2 || !c.Live.Enabled {
		t.Fatalf("live %+v", c.Live)
	}
	if got := Changed(Default(), c); len(got) != 1 || got[0] != SectionLive {
		t.Errorf("Changed = %v", got)
	}
	for _, tc := range []struct{ file, key string }{
		{"[live]\nmax_viewers = 0\n", "live.max_viewers"},
		{"[live]\nfps = 0\n", "live.fps"},
		{"[live]\nidle_timeout = \"0s\"\n", "live.idle_timeout"},
		{"[live]\nmax_session = \"1s\"\n", "live.max_session"},
		{"[live]\noffer_max_life = \"1h\"\n", "live.offer_max_life"},
		{"[live]\njpeg_quality = 101\n", "live.jpeg_quality"},
		{"[live]\nice_servers = [\"http://example.org\"]\n", "live.ice_servers"},
		{"[live]\nturn_credential_file = \"turn.txt\"\n", "live.turn_credential_file"},
		{"[live]\nviewers = 2\n", "live.viewers"},
	} {
		_, err := Parse([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: %v, want a problem naming %s", tc.file, err, tc.key)
		}
	}
	d := Default()
	cl := d.Clone()
	cl.Live.ICEServers = append(cl.Live.ICEServers, "stun:x")
	if len(d.Live.ICEServers) != 0 {
		t.Error("Clone shares live.ice_servers")
	}
}
