package ringactor

// Owner returns the node that owns key among nodes, by rendezvous
// (highest-random-weight) hashing: every node gets a score for the key and
// the highest score wins. It returns false when nodes holds no node. Empty
// names are skipped (no member has an empty address); a name listed twice
// counts once, as it scores the same each time.
//
// What it guarantees:
//   - The answer depends only on the key and on the set of nodes: not on
//     their order, the process, map iteration or the Go version. The score
//     is FNV-1a 64 over the node's bytes, a zero byte and the key's bytes,
//     then the 64-bit finalizer of MurmurHash3 (fmix64), whose constants
//     are fixed; ties, a 2^-64 chance, go to the smaller name. So every
//     member that has the same up set gives the same owner for a key.
//   - Adding a node moves to it only the keys it now wins (about 1/n of
//     them with n nodes); removing a node moves only the keys it owned,
//     each to the node with the next score. No other key changes owner.
//   - Keys spread evenly over the nodes, as far as the hash is uniform.
//
// What it does not guarantee: two members whose up sets differ (one has
// not yet seen a join, a leave or a failure) may name different owners for
// the same key until gossip makes their up sets equal. A caller that needs
// a single owner at every instant needs a lease or a consensus on top.
//
// The cost is one hash per node per call, O(len(nodes)); fine for the tens
// of members a ring has.
func Owner(key string, nodes []string) (string, bool) {
	var (
		owner string
		best  uint64
		found bool
	)
	for _, node := range nodes {
		if node == "" {
			continue
		}
		score := ownerScore(node, key)
		if !found || score > best || (score == best && node < owner) {
			owner, best, found = node, score, true
		}
	}
	return owner, found
}

// FNV-1a 64 parameters (offset basis and prime), from the FNV spec.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// ownerScore is node's weight for key. FNV-1a alone mixes the last bytes
// poorly into the high bits, which decide a comparison of scores; fmix64
// spreads every input bit over the whole word. The zero byte between node
// and key keeps ("ab","c") and ("a","bc") apart. Written out rather than
// with hash/fnv so that a call allocates nothing.
func ownerScore(node, key string) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(node); i++ {
		h ^= uint64(node[i])
		h *= fnvPrime64
	}
	h *= fnvPrime64 // the zero byte: xor with 0 leaves h as it is
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= fnvPrime64
	}
	return fmix64(h)
}

// fmix64 is the 64-bit finalizer of MurmurHash3.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
