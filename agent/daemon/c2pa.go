package daemon

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/c2pa"
)

// jpegSigner signs a picture with Content Credentials (a *c2pa.Signer).
type jpegSigner interface {
	SignJPEG(img []byte, captured time.Time) ([]byte, error)
}

// credentials returns the device's Content Credentials signer: the device
// key with the C2PA claim-signing chain installed beside it (c2pa.crt, issued
// at enrollment), or nil while there is none; thumbnails and snapshots then
// stay unsigned (C2PA), as they were before.
func (d *Daemon) credentials() jpegSigner {
	id, err := d.identity()
	if err != nil {
		return nil
	}
	cfg, _ := d.config()
	path := c2pa.ChainPath(cfg.Identity.Key)
	chain, err := c2pa.LoadChain(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("content credentials: chain unreadable; pictures go unsigned (C2PA)", "path", path, "err", err)
		}
		return nil
	}
	s, err := c2pa.New(c2pa.Config{Key: id.key, Chain: chain, Version: d.deps.Version})
	if err != nil {
		d.log.Warn("content credentials: chain refused; pictures go unsigned (C2PA)", "path", path, "err", err)
		return nil
	}
	return s
}

// clipCredentials is credentials for the clip store: clips (and the
// thumbnails Recover rebuilds) are signed when the chain is installed. It
// looks for the chain first, so that a device without one is not given a
// key by the store's start.
func (d *Daemon) clipCredentials() storage.Credentials {
	cfg, _ := d.config()
	if _, err := os.Stat(c2pa.ChainPath(cfg.Identity.Key)); err != nil {
		return nil
	}
	if s, ok := d.credentials().(storage.Credentials); ok {
		return s
	}
	return nil
}
