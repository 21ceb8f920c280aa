package storage

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Credentials signs videos and thumbnails with Content Credentials (C2PA):
// package c2pa's *Signer, made from the device key. StoreConfig.Credentials.
type Credentials interface {
	// SignMP4 writes a signed copy of the fragmented MP4 src (size bytes)
	// to dst and returns the bytes written; it fails for a file already
	// signed.
	SignMP4(dst io.Writer, src io.ReaderAt, size int64, captured time.Time) (int64, error)
	// SignJPEG returns a signed copy of a picture.
	SignJPEG(img []byte, captured time.Time) ([]byte, error)
}

// SlotCredentials are Credentials that sign a clip in place (package c2pa's
// *Signer has these methods): the clip is written with a manifest box
// reserved after ftyp and each fragment's Merkle box after its mdat, and the
// seal writes the signed store into the reserved box, over the same bytes,
// instead of writing a signed copy of the whole clip. Clips that outgrow
// their reservation, and clips written without one, are signed by a copy.
type SlotCredentials interface {
	Credentials
	// ReserveMP4 returns the placeholder box for a clip of up to
	// maxFragments fragments.
	ReserveMP4(maxFragments int) ([]byte, error)
	// MerkleBox returns the box that follows fragment i's mdat.
	MerkleBox(i int) []byte
	// BMFFLeaf hashes the top-level boxes in b, written at offset off.
	BMFFLeaf(off int64, b []byte) ([]byte, error)
	// SealMP4 returns the signed manifest box, slotSize bytes.
	SealMP4(slotSize int, firstMerkle int64, initHash []byte, leaves [][]byte, captured time.Time) ([]byte, error)
	// SignMP4InPlace signs a clip cut back to its last whole fragment in
	// place and returns its new size (the last Merkle box may be added).
	SignMP4InPlace(f interface {
		io.ReaderAt
		io.WriterAt
	}, size int64, captured time.Time) (int64, error)
}

// signedVideo is a video signed by signVideo, open for the seal's syncs.
type signedVideo struct {
	f    *os.File
	size int64
	sum  hash.Hash
}

// signVideo replaces the closed-for-writing video at p by its copy signed
// with Content Credentials, crash-safe: the copy is written to a temporary
// file (which Recover removes), synced, then renamed over p. Until the
// rename p is unchanged. The caller seals the returned file as it would have
// sealed p's (rename, sync, close).
func (s *Store) signVideo(p string, captured time.Time) (*signedVideo, error) {
	src, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("storage: sign %s: %w", filepath.Base(p), err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, fmt.Errorf("storage: sign %s: %w", filepath.Base(p), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return nil, s.noteWriteError("sign", fmt.Errorf("storage: sign %s: %w", filepath.Base(p), err))
	}
	done := false
	if err := tmp.Chmod(0o644); err != nil { // as CreateFile
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("storage: sign %s: %w", filepath.Base(p), err)
	}
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, sum), 64<<10)
	n, err := s.cred.SignMP4(bw, src, st.Size(), captured)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("storage: sign %s: %w", filepath.Base(p), err)
	}
	if err := datasync(tmp); err != nil {
		return nil, s.noteWriteError("sign", fmt.Errorf("storage: sign %s: sync: %w", filepath.Base(p), err))
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return nil, s.noteWriteError("sign", fmt.Errorf("storage: sign %s: %w", filepath.Base(p), err))
	}
	done = true
	s.bytesWritten.Add(uint64(n))
	return &signedVideo{f: tmp, size: n, sum: sum}, nil
}
