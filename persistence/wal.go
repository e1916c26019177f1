package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The payload log (LogFileName) is an 8-byte header followed by records:
//
//	header: "GSRLOG" | format version (uint16, little endian)
//	record: length (uint32 LE) | CRC-32C of length and body (uint32 LE) | body
//
// A record's checksum covers its length field, so that a run of zero bytes
// (what some file systems show of a torn append) is never read as empty
// records. The log is created whole (header only) by an atomic write, so a
// header is either complete or absent; records are appended in place, one
// write and one fdatasync per AppendDeltas.
const (
	// LogFileName is the name of the payload log in a FileStore's
	// directory.
	LogFileName = "payload.log"

	// LogFormatVersion is the version of the log's framing that this build
	// writes and reads.
	LogFormatVersion uint16 = 1

	// MaxDeltaSize is the largest delta AppendDeltas accepts, in bytes. A
	// record header claiming more is read as corruption.
	MaxDeltaSize = 64 << 20

	logMagic        = "GSRLOG"
	logHeaderSize   = int64(len(logMagic) + 2)
	frameHeaderSize = 8
)

// logHeader returns the header this build writes.
func logHeader() []byte {
	return binary.LittleEndian.AppendUint16([]byte(logMagic), LogFormatVersion)
}

// appendRecord appends the record of body to buf.
func appendRecord(buf, body []byte) []byte {
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(body)))
	buf = append(buf, 0, 0, 0, 0) // the checksum, set below
	buf = append(buf, body...)
	crc := crc32.Update(crc32.Checksum(buf[start:start+4], castagnoli), castagnoli, body)
	binary.LittleEndian.PutUint32(buf[start+4:start+frameHeaderSize], crc)
	return buf
}

// decodeRecords reads the records of data (the log after its header) in
// order, up to the first that is short or fails its checks. It returns their
// bodies (slices of data), how many bytes of data they span, and why it
// stopped early (nil when data is whole records). Offsets in the reason are
// offsets in the file, for a person with a hex dump.
func decodeRecords(data []byte) (bodies [][]byte, good int, reason error) {
	for good < len(data) {
		at := logHeaderSize + int64(good)
		rest := data[good:]
		if len(rest) < frameHeaderSize {
			return bodies, good, fmt.Errorf("record at file offset %d: %d of %d header bytes: %w",
				at, len(rest), frameHeaderSize, io.ErrUnexpectedEOF)
		}
		length := binary.LittleEndian.Uint32(rest[0:4])
		if length > MaxDeltaSize {
			return bodies, good, fmt.Errorf("record at file offset %d: %w: length %d exceeds the maximum %d",
				at, ErrCorrupt, length, MaxDeltaSize)
		}
		end := frameHeaderSize + int(length)
		if len(rest) < end {
			return bodies, good, fmt.Errorf("record at file offset %d: %d of %d bytes: %w",
				at, len(rest), end, io.ErrUnexpectedEOF)
		}
		want := binary.LittleEndian.Uint32(rest[4:8])
		got := crc32.Update(crc32.Checksum(rest[0:4], castagnoli), castagnoli, rest[frameHeaderSize:end])
		if want != got {
			return bodies, good, fmt.Errorf("record at file offset %d: %w: checksum mismatch: record says crc32c %#08x, has %#08x",
				at, ErrCorrupt, want, got)
		}
		bodies = append(bodies, rest[frameHeaderSize:end:end])
		good += end
	}
	return bodies, good, nil
}

// deltaLog is the payload log of a FileStore. Its invariant: the bytes of
// the file up to end are whole records that were synced (or were found on
// disk on load); anything after end is not durable and is cut before the
// next write.
type deltaLog struct {
	dir, path string

	// file is open for writing; nil until the first append after a load,
	// a failure or a delete.
	file *os.File
	// end is the offset after the last durable record; 0 when the file
	// does not exist (the next append creates it).
	end int64
	// scanned says end was read from the file (by load or by the first
	// append): before that, end means nothing.
	scanned bool
	// dirty says the file may hold bytes past end (a failed append, or a
	// cut that could not be made yet): the next append truncates first.
	dirty bool
	// buf is reused by appends to frame the records of one call.
	buf []byte
}

func newDeltaLog(dir string) *deltaLog {
	return &deltaLog{dir: dir, path: filepath.Join(dir, LogFileName)}
}

// load reads the log, cuts a torn or corrupt tail, and returns the
// records' bodies and what was cut. A header that is not this build's is
// an error, and then the file is left as it is.
func (l *deltaLog) load() (deltas [][]byte, cut int64, reason error, err error) {
	data, err := os.ReadFile(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		l.closeFile()
		l.end, l.scanned, l.dirty = 0, true, false
		return nil, 0, nil, nil
	}
	if err != nil {
		return nil, 0, nil, fmt.Errorf("persistence: load log %s: %w", l.path, err)
	}
	if len(data) == 0 {
		// A log is created with its header by an atomic write, so an empty
		// file holds nothing: the next append replaces it.
		l.closeFile()
		l.end, l.scanned, l.dirty = 0, true, false
		return nil, 0, nil, nil
	}
	if err := checkLogHeader(l.path, data); err != nil {
		return nil, 0, nil, err
	}
	records := data[logHeaderSize:]
	if l.scanned && l.dirty && l.end >= logHeaderSize && l.end < int64(len(data)) {
		// An append failed here and its bytes could not be cut yet: they
		// may read as whole records, but they were never durable (and the
		// caller was told so), so they are not this log's.
		records = data[logHeaderSize:l.end]
	}
	deltas, good, reason := decodeRecords(records)
	l.end, l.scanned = logHeaderSize+int64(good), true
	cut = int64(len(data)) - l.end
	if cut == 0 {
		return deltas, 0, nil, nil
	}
	if reason == nil {
		reason = fmt.Errorf("%d bytes of a failed append after file offset %d", cut, l.end)
	}
	reason = fmt.Errorf("log %s: %w", l.path, reason)
	// Cut the tail now, so that a crash before the next append does not
	// find it again. If that fails (a read-only disk), the next append
	// cuts it before it writes; the records are returned either way.
	l.dirty = true
	if err := l.openFile(); err != nil {
		return deltas, cut, fmt.Errorf("%w (not cut yet: %w)", reason, err), nil
	}
	if err := syncData(l.file); err != nil {
		l.fail()
		return deltas, cut, fmt.Errorf("%w (cut not yet durable: %w)", reason, err), nil
	}
	return deltas, cut, reason, nil
}

// checkLogHeader checks the header of the log file's bytes data.
func checkLogHeader(path string, data []byte) error {
	if int64(len(data)) < logHeaderSize || !bytes.HasPrefix(data, []byte(logMagic)) {
		return fmt.Errorf("persistence: load log %s: %w: no %q header (not a payload log?)", path, ErrCorrupt, logMagic)
	}
	if version := binary.LittleEndian.Uint16(data[len(logMagic):logHeaderSize]); version != LogFormatVersion {
		return fmt.Errorf("persistence: load log %s: %w: log has version %d, this build reads version %d",
			path, ErrUnsupportedVersion, version, LogFormatVersion)
	}
	return nil
}

// append writes the records of deltas after the last durable record with
// one write and makes them durable with one fdatasync. On failure the file
// is cut back to the last durable record (or will be, before the next
// write) and the error names the file and the step that failed.
func (l *deltaLog) append(deltas [][]byte) error {
	if !l.scanned {
		if _, _, _, err := l.load(); err != nil {
			return err // names the log and what is wrong with it
		}
	}
	if err := l.openFile(); err != nil {
		return fmt.Errorf("persistence: append to log %s: %w", l.path, err)
	}
	l.buf = l.buf[:0]
	for _, delta := range deltas {
		l.buf = appendRecord(l.buf, delta)
	}
	if _, err := l.file.WriteAt(l.buf, l.end); err != nil {
		l.fail()
		return fmt.Errorf("persistence: append to log %s: write %d bytes at offset %d: %w", l.path, len(l.buf), l.end, err)
	}
	if err := syncData(l.file); err != nil {
		l.fail()
		return fmt.Errorf("persistence: append to log %s: sync: %w (the records are not durable)", l.path, err)
	}
	l.end += int64(len(l.buf))
	if cap(l.buf) > 1<<20 {
		l.buf = nil // do not keep a huge batch's buffer for ever
	}
	return nil
}

// empty cuts the log back to its header, durably: the deltas are in the
// snapshot now.
func (l *deltaLog) empty() error {
	if !l.scanned {
		if _, _, _, err := l.load(); err != nil {
			return err
		}
	}
	if l.end == 0 || (l.end == logHeaderSize && !l.dirty) {
		return nil
	}
	if err := l.openFile(); err != nil {
		return fmt.Errorf("persistence: empty log %s: %w", l.path, err)
	}
	if err := l.file.Truncate(logHeaderSize); err != nil {
		l.fail()
		return fmt.Errorf("persistence: empty log %s: truncate: %w", l.path, err)
	}
	l.end = logHeaderSize
	if err := syncData(l.file); err != nil {
		// The old records may come back after a crash: harmless, since
		// the snapshot covers them. The next append truncates again first.
		l.fail()
		return fmt.Errorf("persistence: empty log %s: sync: %w", l.path, err)
	}
	return nil
}

// openFile opens the log for writing (creating it with its header when it
// does not exist) and cuts what lies past end when the log is dirty.
func (l *deltaLog) openFile() error {
	if l.end == 0 {
		l.closeFile()
		if err := writeFileAtomically(l.dir, LogFileName, logHeader()); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		l.end, l.dirty = logHeaderSize, false
	}
	if l.file == nil {
		file, err := os.OpenFile(l.path, os.O_RDWR, FileMode)
		if err != nil {
			return err
		}
		l.file = file
	}
	if l.dirty {
		if err := l.file.Truncate(l.end); err != nil {
			l.fail()
			return fmt.Errorf("cut back to the last durable record at offset %d: %w", l.end, err)
		}
		l.dirty = false
	}
	return nil
}

// fail is called after a failed write or sync: the file may hold bytes past
// end that are not durable. It cuts them at once if it can; either way it
// closes the file, so that the next append opens it afresh (a descriptor
// that saw a write error may keep failing, or report success for pages the
// kernel already dropped) and truncates to end before it writes.
func (l *deltaLog) fail() {
	l.dirty = true
	if l.file != nil && l.file.Truncate(l.end) == nil {
		l.dirty = false
	}
	l.closeFile()
}

// size is how many bytes of records the log holds (0 when it does not
// exist): the bytes appended since the last snapshot.
func (l *deltaLog) size() int64 {
	end := l.end
	if !l.scanned {
		info, err := os.Stat(l.path)
		if err != nil {
			return 0
		}
		end = info.Size()
	}
	return max(end-logHeaderSize, 0)
}

// remove deletes the log file; the caller syncs the directory. When the
// removal fails, the file is still there and end still describes it: the
// next append must go on after its records, not start a new log over them.
func (l *deltaLog) remove() error {
	l.closeFile()
	if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	l.end, l.scanned, l.dirty = 0, true, false
	return nil
}

func (l *deltaLog) closeFile() error {
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}
