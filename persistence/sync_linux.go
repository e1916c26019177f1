package persistence

import (
	"os"
	"syscall"
)

// syncData makes file's data durable with fdatasync(2): like fsync, but it
// skips metadata that reading the data back does not need (the
// modification time), which saves a journal write on most file systems.
// The file's size is such metadata, so an append is durable with it.
func syncData(file *os.File) error {
	for {
		err := syscall.Fdatasync(int(file.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return os.NewSyscallError("fdatasync", err)
			}
			return nil
		}
	}
}
