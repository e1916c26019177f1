package main

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes a member die with the demo, should the demo be killed
// before it can clean up.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
