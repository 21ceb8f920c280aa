package config

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Source tells where a Config came from, for `camagent ctl status` and logs.
type Source struct {
	// Path is the file, as given to LoadWith or NewWatcher.
	Path string
	// Hash is the first 12 hex digits of the SHA-256 of the file's bytes.
	Hash string
	// Loaded is when the file was read.
	Loaded time.Time
}

// Load is LoadWith(path, os.Getenv): the file, then the process environment.
func Load(path string) (Config, Source, error) { return LoadWith(path, os.Getenv) }

// LoadWith reads the file at path and builds its Config: Default, the file,
// the environment read through getenv (nil: none), Validate. Problems with
// the contents match ErrInvalid and carry the path; a missing file matches
// fs.ErrNotExist and says how to create one. The Source is filled whenever the
// file could be read, even when its contents are refused.
func LoadWith(path string, getenv func(string) string) (Config, Source, error) {
	return load(path, getenv, time.Now)
}

func load(path string, getenv func(string) string, now func() time.Time) (Config, Source, error) {
	data, err := readFile(path)
	if err != nil {
		return Config{}, Source{}, err
	}
	src := Source{Path: path, Hash: hash(data), Loaded: now()}
	c, err := build(data, path, getenv)
	return c, src, err
}

// readFile reads a regular file of at most MaxFileSize bytes (one more, so
// that decode can tell it is too big).
func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config: %s: %w; create it from camagent.example.toml or pass -config", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("config: read %s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return data, nil
}

func hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:6])
}

//go:embed camagent.example.toml
var exampleFile string

// ExampleFile returns camagent.example.toml: every key, documented, with its
// default value.
func ExampleFile() string { return exampleFile }
