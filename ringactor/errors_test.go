package ringactor

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// checkSentinelErrors checks, through client, that every sentinel a
// member's answer can wrap matches with errors.Is: those the ring's own
// requests return, and each one of the wire table wrapped by a behaviour's
// reply. self is the member's node; remote says it is in another process.
func checkSentinelErrors(t *testing.T, client *Client, self string, remote bool) {
	ghost := newNode()
	for name, tc := range map[string]struct {
		err  error
		want error
	}{
		"DelNode of a node not in the ring":   {client.DelNode(context.Background(), ghost), ErrUnknownNode},
		"ForceDown of a node not in the ring": {client.ForceDown(context.Background(), ghost), ErrUnknownNode},
		"ForceDown of itself":                 {client.ForceDown(context.Background(), self), ErrSelf},
		"AddNode of a bad address":            {client.AddNode(context.Background(), "no port"), ErrInvalidNode},
	} {
		require.ErrorIs(t, tc.err, tc.want, name)
		var callErr *CallError
		require.ErrorAs(t, tc.err, &callErr, name)
		assert.Contains(t, callErr.Message, tc.want.Error(), "%s: the member's text is kept", name)
		for _, other := range errorCodes {
			if other.err != tc.want {
				assert.NotErrorIs(t, tc.err, other.err, name)
			}
		}
	}

	call := func(msg any) error {
		_, err := client.Call(within(2*time.Second), msg)
		return err
	}
	if remote {
		require.ErrorIs(t, call(wrapperspb.String("boom")), ErrCallbackPanic)
		require.ErrorIs(t, call(wrapperspb.String("not handled")), ErrUnhandledCall)
	} else {
		require.ErrorIs(t, call(boom{}), ErrCallbackPanic)
		require.ErrorIs(t, call("not handled"), ErrUnhandledCall)
	}
	for _, c := range errorCodes {
		err := call(wrapperspb.String("error:" + c.code))
		require.ErrorIs(t, err, c.err, c.code)
		assert.ErrorContains(t, err, "asked for error:"+c.code, "the behaviour's text is kept")
		if remote {
			var callErr *CallError
			require.ErrorAs(t, err, &callErr, "a remote behaviour's error is a *CallError")
		}
	}
}

func TestSentinelErrorsMatchInProcess(t *testing.T) {
	m := startMember(t, "errors", nil)
	checkSentinelErrors(t, m.client, m.node, false)
}

func TestSentinelErrorsMatchAcrossProcesses(t *testing.T) {
	ring := uniqueRing("errors")
	p, _ := startPeer(t, ring)
	checkSentinelErrors(t, NewClient(sharedRemote(t), p.node, ring), p.node, true)
}

// A member's error that wraps no sentinel arrives with its text only.
func TestCallErrorWithoutCode(t *testing.T) {
	err := answerError("no config", nil)
	var callErr *CallError
	require.ErrorAs(t, err, &callErr)
	assert.Equal(t, "no config", callErr.Message)
	for _, c := range errorCodes {
		assert.NotErrorIs(t, err, c.err)
	}
	assert.NotErrorIs(t, answerError("x", []string{"from a newer member"}), ErrStopped, "an unknown code matches nothing")
	assert.NoError(t, answerError("", nil))
}

// Every sentinel has one code, and codesOf finds each one it wraps.
func TestErrorCodesAreDistinct(t *testing.T) {
	codes := map[string]bool{}
	for _, c := range errorCodes {
		require.False(t, codes[c.code], "code %q twice", c.code)
		codes[c.code] = true
		require.Same(t, c.err, errorOf(c.code))
	}
	both := fmt.Errorf("%w and %w", ErrStopped, ErrRemoved)
	got := answerError(both.Error(), codesOf(both))
	assert.ErrorIs(t, got, ErrStopped)
	assert.ErrorIs(t, got, ErrRemoved)
	assert.True(t, errors.Is(got, ErrRemoved))
}

// TestEverySentinelHasAWireCode reads the sentinels declared in errors.go
// (they are kept there, in one place) and checks each is in the wire table:
// a sentinel without a code matches with errors.Is in this process only.
func TestEverySentinelHasAWireCode(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	require.NoError(t, err)
	coded := map[string]bool{}
	for _, c := range errorCodes {
		coded[c.err.Error()] = true
	}
	declared := 0
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.VAR {
			continue
		}
		for _, spec := range gen.Specs {
			for _, name := range spec.(*ast.ValueSpec).Names {
				if !strings.HasPrefix(name.Name, "Err") || !name.IsExported() {
					continue
				}
				declared++
				sentinel := sentinelByName(name.Name)
				require.NotNil(t, sentinel, "%s is declared in errors.go but not listed in sentinelByName", name.Name)
				assert.True(t, coded[sentinel.Error()], "%s has no wire code in errorCodes", name.Name)
			}
		}
	}
	require.Positive(t, declared)
}

// sentinelByName maps the names of errors.go's sentinels to their values.
func sentinelByName(name string) error {
	for _, c := range errorCodes {
		if strings.TrimPrefix(c.code, "persistence.") == c.code && codeName(c.code) == name {
			return c.err
		}
	}
	return nil
}

// codeName turns a wire code into its sentinel's name: "not_durable" is
// ErrNotDurable.
func codeName(code string) string {
	var b strings.Builder
	b.WriteString("Err")
	for _, part := range strings.Split(code, "_") {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
