package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nodeBinary is the examples/cluster program that TestMain built.
var nodeBinary string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Getenv(hostileClientEnv) != "" || os.Getenv(blobMemberEnv) != "" {
		return m.Run() // a hostile client or blob member process (hostile_client_test.go, blob_member_test.go) needs no member program
	}
	dir, err := os.MkdirTemp("", "genserverring-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	nodeBinary = filepath.Join(dir, "node")
	args := []string{"build", "-o", nodeBinary}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/genserverring/genserverring-go/examples/cluster")
	build := exec.Command(goTool(), args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: building the member program (go %v): %v\n", args, err)
		return 1
	}
	removeStaleNamespaces()
	return m.Run()
}

// goTool is the go command of the toolchain running the tests, if known.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if path := filepath.Join(root, "bin", "go"); fileExists(path) {
			return path
		}
	}
	return "go"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
