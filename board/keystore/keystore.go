package keystore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/camagent/camagent/storage/atomicfile"
)

// DefaultPath is where a board without its own keystore keeps the device key.
const DefaultPath = "/var/lib/camagent/device.key"

// maxKeyFile bounds how much of a key file is read (a P-256 PKCS#8 PEM is ~240 bytes).
const maxKeyFile = 16 << 10

// ErrCorrupt: the key file exists but does not hold a usable device key. It
// is left untouched.
var ErrCorrupt = errors.New("keystore: key file is not a usable device key")

// FileKey is a device key stored in a file. It implements crypto.Signer and
// is safe for concurrent use (it never changes after Open).
type FileKey struct {
	path string
	pub  *ecdsa.PublicKey
	// sign is the private key's Sign method value: the only reference to the
	// private key, kept in a closure so that printing a FileKey by
	// reflection cannot reach it.
	sign func(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// Open loads the device key at path, creating it (and its directory, 0700)
// when the file does not exist. created reports whether this call made it.
func Open(path string) (k *FileKey, created bool, err error) {
	for range 2 { // a second pass when another process created the key first
		k, err = load(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return k, false, err
		}
		k, err = create(path)
		if !errors.Is(err, fs.ErrExist) {
			return k, err == nil, err
		}
	}
	return nil, false, fmt.Errorf("keystore: open %s: key file appeared and vanished during creation", path)
}

func load(path string) (*FileKey, error) {
	data, err := atomicfile.ReadFileMax(path, maxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	why := ""
	if errors.Is(err, atomicfile.ErrTooLarge) {
		why = fmt.Sprintf("file is over %d bytes", maxKeyFile)
	} else if err != nil {
		return nil, fmt.Errorf("keystore: read %s: %w", path, err)
	}
	defer clear(data)
	var priv *ecdsa.PrivateKey
	if why == "" {
		priv, why = parse(data)
	}
	if why != "" {
		return nil, fmt.Errorf("%w: %s: %s. It was left untouched. Restore this camera's key "+
			"from a backup if you have one; otherwise move the file away and run `camagent provision` "+
			"to make a new key (the camera then gets a new device ID and must be paired again)",
			ErrCorrupt, path, why)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		_ = os.Chmod(path, 0o600) // best effort: vfat takes modes from the mount options
	}
	return newFileKey(path, priv), nil
}

// parse returns the key, or why the bytes are not a usable device key.
func parse(data []byte) (*ecdsa.PrivateKey, string) {
	if len(data) == 0 {
		return nil, "file is empty"
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, "no PEM block"
	}
	if blk.Type != "PRIVATE KEY" {
		return nil, fmt.Sprintf("PEM block is %.40q, not \"PRIVATE KEY\" (PKCS#8)", blk.Type)
	}
	defer clear(blk.Bytes)
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, "PKCS#8 does not parse: " + err.Error()
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Sprintf("key is %T, not ECDSA P-256", key)
	}
	return priv, ""
}

func create(path string) (*FileKey, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keystore: create %s: %w", path, err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keystore: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keystore: encode key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	clear(der)
	err = installNew(path, data)
	clear(data)
	if err != nil {
		return nil, err
	}
	return newFileKey(path, priv), nil
}

// installNew puts data at path only if path does not exist: temp file,
// fsync, hard link (atomic "create if absent"), directory fsync. It returns
// an error wrapping fs.ErrExist when a file is already there.
func installNew(path string, data []byte) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+name+".new*") // mode 0600
	if err != nil {
		return fmt.Errorf("keystore: create %s: %w", path, err)
	}
	defer func() {
		if cerr := os.Remove(tmp.Name()); cerr != nil && !errors.Is(cerr, fs.ErrNotExist) && err == nil {
			err = fmt.Errorf("keystore: remove temporary %s: %w", tmp.Name(), cerr)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("keystore: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("keystore: chmod %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keystore: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keystore: close %s: %w", path, err)
	}
	if lerr := os.Link(tmp.Name(), path); lerr != nil {
		if errors.Is(lerr, fs.ErrExist) {
			return fmt.Errorf("keystore: create %s: %w", path, fs.ErrExist)
		}
		// No hard links here (vfat): check again, then rename. Two agents
		// creating a key on the same vfat at the same instant could race;
		// the agent is a single process per device.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("keystore: create %s: %w", path, fs.ErrExist)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("keystore: create %s: %w", path, err)
		}
		// vfat: the renamed file's directory entry is written by its own sync.
		if f, err := os.Open(path); err == nil {
			err = f.Sync()
			f.Close()
			if err != nil {
				return fmt.Errorf("keystore: sync %s: %w", path, err)
			}
		}
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("keystore: create %s: %w", path, err)
	}
	return nil
}

func newFileKey(path string, priv *ecdsa.PrivateKey) *FileKey {
	return &FileKey{path: path, pub: &priv.PublicKey, sign: priv.Sign}
}

// Public returns the device's public key (*ecdsa.PublicKey, P-256).
func (k *FileKey) Public() crypto.PublicKey { return k.pub }

// Sign signs digest (crypto.Signer); the signature is ASN.1 DER.
func (k *FileKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := k.sign(rand, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("keystore: sign: %w", err)
	}
	return sig, nil
}

// Path returns the key file's path.
func (k *FileKey) Path() string { return k.path }

// String returns "keystore.FileKey(<path>)"; never the key.
func (k FileKey) String() string { return "keystore.FileKey(" + k.path + ")" }

// GoString is String: %#v must not dump the key either.
func (k FileKey) GoString() string { return k.String() }

// Format prints String for every verb, so no fmt verb reaches the key.
func (k FileKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// MarshalJSON encodes the key as its String.
func (k FileKey) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%q", k.String())), nil
}

// LogValue makes slog print String.
func (k FileKey) LogValue() slog.Value { return slog.StringValue(k.String()) }
