package ringactor

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// KeySize is the size of a ring key in bytes: AES-256.
const KeySize = 32

// Keyring holds the keys a ring member seals and opens ring messages with,
// in the manner of memberlist's keyring: the primary key seals every
// outgoing message; the primary and every other key open incoming ones.
// So keys rotate with no downtime: install the new key on every member
// (AddKey), then make it primary on every member (UseKey), then remove the
// old one (RemoveKey). A Keyring is safe for concurrent use and may be
// changed while the ring runs.
type Keyring struct {
	mu      sync.RWMutex
	primary uint64
	keys    map[uint64]keyEntry
}

type keyEntry struct {
	key  []byte
	aead cipher.AEAD
	// removedAt is when RemoveKey removed the key (zero while it is in
	// the keyring): it still opens what was sealed before then, for one
	// replay window, so that messages in flight are not lost.
	removedAt time.Time
}

// NewKeyring returns a keyring whose primary key is primary and which also
// opens messages sealed with any of extra. Every key is KeySize bytes.
func NewKeyring(primary []byte, extra ...[]byte) (*Keyring, error) {
	k := &Keyring{keys: map[uint64]keyEntry{}}
	for _, key := range append([][]byte{primary}, extra...) {
		if err := k.AddKey(key); err != nil {
			return nil, err
		}
	}
	k.primary = keyID(primary)
	return k, nil
}

// GenerateKey returns a new random ring key.
func GenerateKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("ringactor: generate key: %w", err)
	}
	return key, nil
}

// EncodeKey returns key in the base64 form that ParseKeyring and
// LoadKeyringFile read.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// ParseKeyring reads a keyring from text: one base64 key per line, the
// first one primary; blank lines and lines starting with # are skipped.
func ParseKeyring(text string) (*Keyring, error) {
	var keys [][]byte
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("ringactor: keyring line %d: not base64: %w", i+1, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("ringactor: keyring holds no key")
	}
	return NewKeyring(keys[0], keys[1:]...)
}

// LoadKeyringFile reads a keyring file (see ParseKeyring). The file should
// be readable by the member's user only.
func LoadKeyringFile(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ringactor: keyring: %w", err)
	}
	k, err := ParseKeyring(string(data))
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return k, nil
}

// AddKey adds key to the keys that open messages; adding a key it holds
// already does nothing.
func (k *Keyring) AddKey(key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("ringactor: a ring key is %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("ringactor: key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("ringactor: key: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[keyID(key)] = keyEntry{key: bytes.Clone(key), aead: aead} // (again) in the keyring
	return nil
}

// UseKey makes key, which the keyring must hold, the primary key.
func (k *Keyring) UseKey(key []byte) error {
	id := keyID(key)
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.keys[id]; !ok || !e.removedAt.IsZero() {
		return errors.New("ringactor: UseKey: the keyring does not hold this key; AddKey it first")
	}
	k.primary = id
	return nil
}

// RemoveKey removes key; the primary key cannot be removed. Messages
// sealed with key before the removal still open until they leave the
// replay window, so the messages in flight during a rotation are not
// lost; a leaked key is therefore refused at most one replay window after
// its removal.
func (k *Keyring) RemoveKey(key []byte) error {
	id := keyID(key)
	k.mu.Lock()
	defer k.mu.Unlock()
	if id == k.primary {
		return errors.New("ringactor: RemoveKey: cannot remove the primary key; UseKey another first")
	}
	if e, ok := k.keys[id]; ok && e.removedAt.IsZero() {
		e.removedAt = time.Now()
		k.keys[id] = e
	}
	return nil
}

// Keys returns the keys, the primary one first.
func (k *Keyring) Keys() [][]byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	keys := [][]byte{bytes.Clone(k.keys[k.primary].key)}
	ids := make([]uint64, 0, len(k.keys))
	for id, e := range k.keys {
		if id != k.primary && e.removedAt.IsZero() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		keys = append(keys, bytes.Clone(k.keys[id].key))
	}
	return keys
}

// primaryKey returns the primary key's ID and cipher.
func (k *Keyring) primaryKey() (uint64, cipher.AEAD) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primary, k.keys[k.primary].aead
}

// lookup returns the cipher of the key with id for a message sealed at
// sealedAt, seen at now: a removed key opens only what was sealed before
// its removal, and is forgotten one window after it.
func (k *Keyring) lookup(id uint64, sealedAt, now time.Time, window time.Duration) (cipher.AEAD, bool) {
	k.mu.RLock()
	e, ok := k.keys[id]
	k.mu.RUnlock()
	switch {
	case !ok:
		return nil, false
	case e.removedAt.IsZero():
		return e.aead, true
	case now.Sub(e.removedAt) > window:
		k.mu.Lock()
		if current, ok := k.keys[id]; ok && current.removedAt.Equal(e.removedAt) {
			delete(k.keys, id)
		}
		k.mu.Unlock()
		return nil, false
	}
	return e.aead, !sealedAt.After(e.removedAt)
}

// keyID names a key without revealing it.
func keyID(key []byte) uint64 {
	h := sha256.New()
	h.Write([]byte("genserverring ring key id\x00"))
	h.Write(key)
	return binary.BigEndian.Uint64(h.Sum(nil))
}
