//go:build !linux

package persistence

import "os"

// syncData makes file's data durable. Outside Linux it is a full fsync
// (on macOS, Go's File.Sync is F_FULLFSYNC, which also flushes the drive's
// cache).
func syncData(file *os.File) error { return file.Sync() }
