package persistence

import (
	"fmt"
	"path/filepath"
	"strings"
)

// DefaultDir is the directory the member node of the ring ringName keeps its
// files in when the application does not choose one:
// ./data/<ringName>/<node>, relative to the process's working directory,
// with node's ':' written as '_' (127.0.0.1:8001 gives
// data/orders/127.0.0.1_8001). Each member has a directory of its own, so
// members started in one working directory never share a ring file (and
// NewFileStore's lock refuses a second member on one directory anyway).
//
// Each of ringName and node is one path element: a byte other than an
// ASCII letter, digit, '.' or '-' (and ':' in node) is written as %XX, and
// so are a name that is empty, "." or "..". So no name can climb out of
// ./data or nest directories ("a/b" gives "a%2Fb"), and two different names
// never share a directory.
func DefaultDir(ringName, node string) string {
	return filepath.Join(".", "data", pathElement(ringName, false), pathElement(node, true))
}

// pathElement encodes name as one safe path element (see DefaultDir).
// colonAsUnderscore writes ':' as '_' (a literal '_' is then %5F, so the
// encoding stays one-to-one).
func pathElement(name string, colonAsUnderscore bool) string {
	switch name {
	case "":
		return "%00"
	case ".", "..":
		return strings.Repeat("%2E", len(name))
	}
	var out strings.Builder
	for i := range len(name) {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-':
			out.WriteByte(c)
		case c == ':' && colonAsUnderscore:
			out.WriteByte('_')
		case c == '_' && !colonAsUnderscore:
			out.WriteByte(c)
		default:
			fmt.Fprintf(&out, "%%%02X", c)
		}
	}
	return out.String()
}
