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

func (f *dotFlag) set(replica ReplicaID) dotFlag {
	dot := f.ctx.Next(replica)
	var delta dotFlag
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

func (f *dotFlag) fromProto(m *messages.Flag) error {
	ctx, err := CausalContextFromProto(m.GetContext())
	if err != nil {
		return err
	}
	var dots []Dot
	if len(m.GetDots()) > 0 {
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

func (f *dotFlag) unmarshal(data []byte) error {
	var m messages.Flag
	if err := proto.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%w: %v", ErrDecode, err)
	}
	return f.fromProto(&m)
}

// EWFlag is an enable-wins flag (riak_dt od_flag, made delta-capable): it
// holds the dots of the enables that are live. It is true while one is; a
// disable removes the enables it observed, so an enable concurrent with a
// disable wins. The zero value is a disabled flag, ready to use.
type EWFlag struct {
	flag dotFlag
}

// Enable makes the flag true with a new dot of replica and returns the
// delta.
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

// Clone returns a copy that shares nothing with f.
func (f *EWFlag) Clone() *EWFlag {
	return &EWFlag{flag: f.flag.clone()}
}

// ToProto returns the flag as a protobuf message.
func (f *EWFlag) ToProto() *messages.Flag {
	return f.flag.toProto()
}

// EWFlagFromProto decodes an enable-wins flag. It fails, with an error
// wrapping ErrDecode, on a dot with counter 0, a dot listed twice or a dot
// the context does not cover.
func EWFlagFromProto(m *messages.Flag) (*EWFlag, error) {
	f := &EWFlag{}
	if err := f.flag.fromProto(m); err != nil {
		return nil, fmt.Errorf("ewflag: %w", err)
	}
	return f, nil
}

// MarshalBinary encodes the flag as a messages.Flag.
func (f *EWFlag) MarshalBinary() ([]byte, error) {
	return proto.Marshal(f.ToProto())
}

// UnmarshalBinary replaces the flag with the decoded one; on error f is
// unchanged.
func (f *EWFlag) UnmarshalBinary(data []byte) error {
	var decoded dotFlag
	if err := decoded.unmarshal(data); err != nil {
		return fmt.Errorf("ewflag: %w", err)
	}
	f.flag = decoded
	return nil
}

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
// delta.
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

// Clone returns a copy that shares nothing with f.
func (f *DWFlag) Clone() *DWFlag {
	return &DWFlag{flag: f.flag.clone()}
}

// ToProto returns the flag as a protobuf message.
func (f *DWFlag) ToProto() *messages.Flag {
	return f.flag.toProto()
}

// DWFlagFromProto decodes a disable-wins flag. It fails, with an error
// wrapping ErrDecode, on a dot with counter 0, a dot listed twice or a dot
// the context does not cover.
func DWFlagFromProto(m *messages.Flag) (*DWFlag, error) {
	f := &DWFlag{}
	if err := f.flag.fromProto(m); err != nil {
		return nil, fmt.Errorf("dwflag: %w", err)
	}
	return f, nil
}

// MarshalBinary encodes the flag as a messages.Flag.
func (f *DWFlag) MarshalBinary() ([]byte, error) {
	return proto.Marshal(f.ToProto())
}

// UnmarshalBinary replaces the flag with the decoded one; on error f is
// unchanged.
func (f *DWFlag) UnmarshalBinary(data []byte) error {
	var decoded dotFlag
	if err := decoded.unmarshal(data); err != nil {
		return fmt.Errorf("dwflag: %w", err)
	}
	f.flag = decoded
	return nil
}
