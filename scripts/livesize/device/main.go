// Command device links a live.Server (and so pion) for scripts/livesize.sh.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage/jpegframe"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/live"
)

func main() {
	s, err := live.NewServer(live.Config{Hub: &capture.Hub{}})
	var p jpegframe.Picture
	_, _ = identity.ValidDeviceID(os.Args[0]), p.Bounds()
	fmt.Println(s.Status(), err, s.Run(context.Background()))
}
