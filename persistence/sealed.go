package persistence

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// castagnoli is the CRC-32C table: the checksum of every file and log
// record the package writes.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sealedFile is what the ring file (messages.RingFile) and the snapshot
// (messages.SnapshotFile) share: a format version, a checksum and a body.
type sealedFile interface {
	proto.Message
	GetFormatVersion() uint32
	GetCrc32C() uint32
	GetBody() []byte
}

// sealedKind describes one kind of sealed file: what to call it in errors,
// the version this build writes and reads, and how its checksum is taken.
type sealedKind struct {
	what     string
	version  uint32
	checksum func(version uint32, body []byte) uint32
	// newFile returns the file's message, empty or with the given fields.
	newFile func(version, crc uint32, body []byte) sealedFile
}

var (
	ringFileKind = sealedKind{
		what:     "ring file",
		version:  FormatVersion,
		checksum: func(_ uint32, body []byte) uint32 { return crc32.Checksum(body, castagnoli) },
		newFile: func(version, crc uint32, body []byte) sealedFile {
			return &messages.RingFile{FormatVersion: version, Crc32C: crc, Body: body}
		},
	}
	snapshotKind = sealedKind{
		what:     "snapshot",
		version:  SnapshotFormatVersion,
		checksum: versionedChecksum,
		newFile: func(version, crc uint32, body []byte) sealedFile {
			return &messages.SnapshotFile{FormatVersion: version, Crc32C: crc, Body: body}
		},
	}
)

// versionedChecksum is the CRC-32C of version (little endian) and body: see
// messages.SnapshotFile.crc32c.
func versionedChecksum(version uint32, body []byte) uint32 {
	return crc32.Update(crc32.Checksum(binary.LittleEndian.AppendUint32(nil, version), castagnoli), castagnoli, body)
}

// seal encodes body as a file of kind.
func (k sealedKind) seal(body []byte) ([]byte, error) {
	file := k.newFile(k.version, k.checksum(k.version, body), body)
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(file)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", k.what, err)
	}
	return data, nil
}

// open checks the bytes of the file of kind at path and returns its body.
// The version is checked before the checksum, so that a file from a newer
// build is reported as such and not as corrupt. An empty body is allowed
// when the checksum covers the version (the snapshot); the ring file's
// caller rejects it.
func (k sealedKind) open(path string, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, k.corrupt(path, "file is empty")
	}
	file := k.newFile(0, 0, nil)
	if err := proto.Unmarshal(data, file); err != nil {
		return nil, k.corrupt(path, "not a %s (truncated?): %v", k.what, err)
	}
	switch version := file.GetFormatVersion(); {
	case version == 0:
		// Every version this package ever wrote is non-zero, so a missing
		// version means bytes that merely happen to parse.
		return nil, k.corrupt(path, "no format version (not a %s?)", k.what)
	case version != k.version:
		return nil, fmt.Errorf("persistence: load %s %s: %w: file has version %d, this build reads version %d",
			k.what, path, ErrUnsupportedVersion, version, k.version)
	}
	body := file.GetBody()
	if want, got := file.GetCrc32C(), k.checksum(k.version, body); want != got {
		return nil, k.corrupt(path, "checksum mismatch: file says crc32c %#08x, body has %#08x", want, got)
	}
	return body, nil
}

// corrupt is the error for a file of kind at path that cannot be trusted.
func (k sealedKind) corrupt(path, format string, args ...any) error {
	return fmt.Errorf("persistence: load %s %s: %w: %s", k.what, path, ErrCorrupt, fmt.Sprintf(format, args...))
}
