package crdt

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// dotFlag is the state both flags share: the dots of the live "set"
// operations (enables of an EWFlag, disables of a DWFlag) and a causal
// context. Setting adds a dot that replaces the live ones; clearing removes
// the live dots it observed, so a concurrent set, which it did not observe,
// wins.
type dotFlag struct {
	dots []Dot // sorted, never written once stored
	ctx  CausalContext
}

// set refuses (no change, empty delta) for an exhausted or pruned replica:
// see CausalContext.Next.
func (f *dotFlag) set(replica ReplicaID) dotFlag {
	dot := f.ctx.Next(replica)
	var delta dotFlag
	if dot.Counter == 0 {
		return delta
	}
	delta.ctx.AddAll(f.dots)
	delta.ctx.Add(dot)
	delta.dots = []Dot{dot}
	f.dots = []Dot{dot}
	f.ctx.Add(dot)
	return delta
}

func (f *dotFlag) clear() dotFlag {
	var delta dotFlag
	delta.ctx.AddAll(f.dots)
	f.dots = nil
	return delta
}

// prune replaces the live dots of removed by one new dot of into: see
// DotKernel.Prune.
func (f *dotFlag) prune(removed, into ReplicaID) (dotFlag, error) {
	var delta dotFlag
	skip, err := f.ctx.clock.pruned.checkPruneArgs(removed, into)
	if err != nil || skip {
		return delta, err
	}
	if slices.ContainsFunc(f.dots, func(d Dot) bool { return d.Replica == removed }) {
		if err := checkRetag(&f.ctx, into, 1); err != nil {
			return delta, err
		}
		dot := f.ctx.Next(into)
		f.ctx.Add(dot)
		f.dots = retagDots(f.dots, removed, dot)
		delta.dots = []Dot{dot}
		delta.ctx.Add(dot)
	}
	mark, _ := f.ctx.Prune(removed, into)
	delta.ctx.Merge(mark)
	return delta, nil
}

func (f *dotFlag) merge(other *dotFlag) bool {
	if f == other {
		return false
	}
	joined, changed := joinDots(f.dots, &f.ctx, other.dots, &other.ctx)
	f.dots = joined
	if f.ctx.Merge(&other.ctx) {
		changed = true
	}
	return changed
}

func (f *dotFlag) equal(other *dotFlag) bool {
	return dotsEqual(f.dots, other.dots) && f.ctx.Equal(&other.ctx)
}

func (f *dotFlag) clone() dotFlag {
	var clone dotFlag
	f.ctx.cloneInto(&clone.ctx)
	clone.dots = slices.Clone(f.dots)
	return clone
}

func (f *dotFlag) toProto() *messages.Flag {
	return &messages.Flag{Context: f.ctx.toProtoOrNil(), Dots: dotsToProto(f.dots)}
}

func (f *dotFlag) fromProto(m *messages.Flag, b *budget) error {
	ctx, err := contextFromProto(m.GetContext(), b)
	if err != nil {
		return err
	}
	var dots []Dot
	if len(m.GetDots()) > 0 {
		if err := b.take(len(m.GetDots()), "flag dots"); err != nil {
			return err
		}
		var replica ReplicaID
		dots, err = dotsFromProto(make([]Dot, 0, len(m.GetDots())), m.GetDots(), ctx, &replica)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrDecode, err)
		}
	}
	f.ctx = *ctx
	f.dots = dots
	return nil
}

func (f *dotFlag) unmarshal(data []byte, limits Limits, where string) error {
	return unmarshalLimited(data, limits, where, f, func(m *messages.Flag, b *budget) (*dotFlag, error) {
		var decoded dotFlag
		if err := decoded.fromProto(m, b); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		return &decoded, nil
	})
}

// EWFlag is an enable-wins flag (riak_dt od_flag, made delta-capable): it
// holds the dots of the enables that are live. It is true while one is; a
// disable removes the enables it observed, so an enable concurrent with a
// disable wins. The zero value is a disabled flag, ready to use.
type EWFlag struct {
	flag dotFlag
}

// Enable makes the flag true with a new dot of replica and returns the
// delta. An exhausted or pruned replica cannot enable (see
// CausalContext.Next): the flag is unchanged and the delta empty.
func (f *EWFlag) Enable(replica ReplicaID) *EWFlag {
	return &EWFlag{flag: f.flag.set(replica)}
}

// Disable makes the flag false by removing the enables it has seen and
// returns the delta (empty when the flag is already false).
func (f *EWFlag) Disable() *EWFlag {
	return &EWFlag{flag: f.flag.clear()}
}

// Value reports whether the flag is enabled.
func (f *EWFlag) Value() bool {
	return len(f.flag.dots) > 0
}

// Merge joins other into f and reports whether f changed.
func (f *EWFlag) Merge(other *EWFlag) bool {
	return f.flag.merge(&other.flag)
}

// Equal reports whether the two flags have the same state (live dots and
// causal context), not merely the same value.
func (f *EWFlag) Equal(other *EWFlag) bool {
	return f.flag.equal(&other.flag)
}

// New returns a new empty EWFlag; it reads nothing of its receiver, so
// it may be called on a nil *EWFlag (the ring makes payloads so).
func (*EWFlag) New() *EWFlag { return new(EWFlag) }

// Clone returns a copy that shares nothing with f.
func (f *EWFlag) Clone() *EWFlag {
	return &EWFlag{flag: f.flag.clone()}
}

// ToProto returns the flag as a protobuf message.
func (f *EWFlag) ToProto() *messages.Flag {
	return f.flag.toProto()
}

// EWFlagFromProto decodes an enable-wins flag. It fails, with an error
// wrapping ErrDecode, on a dot with counter 0, a dot listed twice, a dot
// the context does not cover or of a pruned replica, or (wrapping ErrLimit
// too) a value beyond DefaultLimits.
func EWFlagFromProto(m *messages.Flag) (*EWFlag, error) {
	return ewflagFromProto(m, defaultBudget())
}

func ewflagFromProto(m *messages.Flag, b *budget) (*EWFlag, error) {
	f := &EWFlag{}
	if err := f.flag.fromProto(m, b); err != nil {
		return nil, fmt.Errorf("ewflag: %w", err)
	}
	return f, nil
}

// MarshalBinary encodes the flag as a messages.Flag.
func (f *EWFlag) MarshalBinary() ([]byte, error) {
	return proto.Marshal(f.ToProto())
}

// UnmarshalBinary replaces the flag with the decoded one, under
// DefaultLimits; on error f is unchanged.
func (f *EWFlag) UnmarshalBinary(data []byte) error {
	return f.UnmarshalBinaryLimits(data, DefaultLimits())
}

// UnmarshalBinaryLimits is UnmarshalBinary under limits.
func (f *EWFlag) UnmarshalBinaryLimits(data []byte, limits Limits) error {
	return f.flag.unmarshal(data, limits, "ewflag")
}

// Prune replaces the live dots of removed by a new dot of into and marks
// removed as pruned (see Prunable and DotKernel.Prune), and returns the
// delta.
func (f *EWFlag) Prune(removed, into ReplicaID) (*EWFlag, error) {
	delta, err := f.flag.prune(removed, into)
	return &EWFlag{flag: delta}, err
}

// Pruned returns the prune marks, sorted by removed replica.
func (f *EWFlag) Pruned() []PruneMark { return f.flag.ctx.Pruned() }

// ForgetPruned drops the mark of removed (see Prunable).
func (f *EWFlag) ForgetPruned(removed ReplicaID) bool { return f.flag.ctx.ForgetPruned(removed) }

// Replicas returns the replicas of the flag's context, sorted.
func (f *EWFlag) Replicas() []ReplicaID { return f.flag.ctx.Replicas() }

// DWFlag is a disable-wins flag, the dual of EWFlag (Almeida et al.): it
// holds the dots of the disables that are live. It is false while one is;
// an enable removes the disables it observed, so a disable concurrent with
// an enable wins.
//
// The zero value is an enabled flag (Value true), ready to use. This is
// forced by the construction rather than chosen freely: the zero value must
// be the bottom of the lattice, the state with no dots, which every state
// descends from; with no live disable, nothing can make it false. A
// disable-wins flag that starts false would need enable dots as well, and
// then its enables and disables would no longer be a single dot set.
// Applications that want "off until switched on" should use an EWFlag, or
// Disable the DWFlag when they create it.
type DWFlag struct {
	flag dotFlag
}

// Disable makes the flag false with a new dot of replica and returns the
// delta. An exhausted or pruned replica cannot disable (see
// CausalContext.Next): the flag is unchanged and the delta empty.
func (f *DWFlag) Disable(replica ReplicaID) *DWFlag {
	return &DWFlag{flag: f.flag.set(replica)}
}

// Enable makes the flag true by removing the disables it has seen and
// returns the delta (empty when the flag is already true).
func (f *DWFlag) Enable() *DWFlag {
	return &DWFlag{flag: f.flag.clear()}
}

// Value reports whether the flag is enabled: whether no disable is live.
func (f *DWFlag) Value() bool {
	return len(f.flag.dots) == 0
}

// Merge joins other into f and reports whether f changed.
func (f *DWFlag) Merge(other *DWFlag) bool {
	return f.flag.merge(&other.flag)
}

// Equal reports whether the two flags have the same state (live dots and
// causal context), not merely the same value.
func (f *DWFlag) Equal(other *DWFlag) bool {
	return f.flag.equal(&other.flag)
}

// New returns a new empty DWFlag; it reads nothing of its receiver, so
// it may be called on a nil *DWFlag (the ring makes payloads so).
func (*DWFlag) New() *DWFlag { return new(DWFlag) }

// Clone returns a copy that shares nothing with f.
func (f *DWFlag) Clone() *DWFlag {
	return &DWFlag{flag: f.flag.clone()}
}

// ToProto returns the flag as a protobuf message.
func (f *DWFlag) ToProto() *messages.Flag {
	return f.flag.toProto()
}

// DWFlagFromProto decodes a disable-wins flag. It fails, with an error
// wrapping ErrDecode, on a dot with counter 0, a dot listed twice, a dot
// the context does not cover or of a pruned replica, or (wrapping ErrLimit
// too) a value beyond DefaultLimits.
func DWFlagFromProto(m *messages.Flag) (*DWFlag, error) {
	return dwflagFromProto(m, defaultBudget())
}

func dwflagFromProto(m *messages.Flag, b *budget) (*DWFlag, error) {
	f := &DWFlag{}
	if err := f.flag.fromProto(m, b); err != nil {
		return nil, fmt.Errorf("dwflag: %w", err)
	}
	return f, nil
}

// MarshalBinary encodes the flag as a messages.Flag.
func (f *DWFlag) MarshalBinary() ([]byte, error) {
	return proto.Marshal(f.ToProto())
}

// UnmarshalBinary replaces the flag with the decoded one, under
// DefaultLimits; on error f is unchanged.
func (f *DWFlag) UnmarshalBinary(data []byte) error {
	return f.UnmarshalBinaryLimits(data, DefaultLimits())
}

// UnmarshalBinaryLimits is UnmarshalBinary under limits.
func (f *DWFlag) UnmarshalBinaryLimits(data []byte, limits Limits) error {
	return f.flag.unmarshal(data, limits, "dwflag")
}

// Prune replaces the live dots of removed by a new dot of into and marks
// removed as pruned (see Prunable and DotKernel.Prune), and returns the
// delta.
func (f *DWFlag) Prune(removed, into ReplicaID) (*DWFlag, error) {
	delta, err := f.flag.prune(removed, into)
	return &DWFlag{flag: delta}, err
}

// Pruned returns the prune marks, sorted by removed replica.
func (f *DWFlag) Pruned() []PruneMark { return f.flag.ctx.Pruned() }

// ForgetPruned drops the mark of removed (see Prunable).
func (f *DWFlag) ForgetPruned(removed ReplicaID) bool { return f.flag.ctx.ForgetPruned(removed) }

// Replicas returns the replicas of the flag's context, sorted.
func (f *DWFlag) Replicas() []ReplicaID { return f.flag.ctx.Replicas() }
