package integration

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// TestExternalModule runs the tests of integration/external, a module of
// its own that requires the library with only a replace, as an
// application's go.mod would: it proves the library builds and works on
// the dependencies users get (a three-member ring of real processes, and
// every sentinel error matching with errors.Is in this process and across
// processes).
func TestExternalModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	args := []string{"test", "-count=1"}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, goTool(), append(args, "./...")...)
	cmd.Dir = "external"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %v in integration/external: %v\n%s", args, err, out)
	}
	t.Logf("integration/external: %s", out)
}
