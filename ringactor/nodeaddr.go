package ringactor

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
)

// A member is known by one name, the address its remote gives it
// (system.Address()): the name it puts in its gossip, which the ring's node
// set holds. Two spellings of one address must not become two members, so
// the addresses a user gives (AddNode, DelNode, ForceDown, UnforceDown,
// Config.Seeds, NewClient) are put in a canonical form first, and AddNode
// and seeds then add a member under the name it gives itself in the join
// handshake (join.go), whatever address was dialled.

// NormalizeNode returns the canonical form of a node address (host:port):
// the host in lower case without a trailing dot, "localhost" (and names
// under .localhost, RFC 6761) as 127.0.0.1, an IP address in its shortest
// form (an IPv4 address mapped into IPv6 as IPv4), and the port in decimal
// without leading zeros. "LocalHost:07001" and "127.0.0.1:7001" are both
// "127.0.0.1:7001". It fails with ErrInvalidNode when node is not a
// host:port address. Host names are not resolved: a name stays a name
// (members of a Kubernetes StatefulSet keep theirs while their IP
// addresses change).
func NormalizeNode(node string) (string, error) {
	host, port, err := net.SplitHostPort(node)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidNode, truncate(node), err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 || strings.HasPrefix(port, "+") {
		return "", fmt.Errorf("%w: %q: bad port", ErrInvalidNode, truncate(node))
	}
	normalized := net.JoinHostPort(normalizeHost(host), strconv.Itoa(n))
	if err := validateNode(normalized); err != nil {
		return "", err
	}
	return normalized, nil
}

func normalizeHost(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().String()
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "127.0.0.1"
	}
	return host
}

// sameNode reports whether a and b are spellings of one address.
func sameNode(a, b string) bool {
	if a == b {
		return true
	}
	na, errA := NormalizeNode(a)
	nb, errB := NormalizeNode(b)
	return errA == nil && errB == nil && na == nb
}

// findNode returns the member of the node set that node names: node
// itself, or the member whose address is another spelling of it (the
// ring holds members under the names they give themselves). It returns
// node when none is.
func (c *ringCore) findNode(node string) string {
	if node == c.cfg.self || c.nodeSet.Contains(node) {
		return node
	}
	if c.selfAliases[node] || sameNode(node, c.cfg.self) {
		return c.cfg.self
	}
	for member := range c.nodeSet.All() {
		if sameNode(node, member) {
			return member
		}
	}
	return node
}

// clientNode is the address a Client's PID takes for node: the actor
// system's own address when node is another spelling of it (so that the
// Client knows the member is in this process), else node's canonical form
// (node itself when it is not an address: its requests fail then).
func clientNode(system *actor.ActorSystem, node string) string {
	if sameNode(node, system.Address()) {
		return system.Address()
	}
	if normalized, err := NormalizeNode(node); err == nil {
		return normalized
	}
	return node
}
