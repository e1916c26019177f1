package crdt

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundTrip encodes v and decodes it back.
func roundTrip[V any](t *testing.T, v V) V {
	t.Helper()
	data, err := encodeValue(v)
	require.NoError(t, err)
	decoded, err := decodeValue[V](data)
	require.NoError(t, err)
	return decoded
}

func TestCodecRoundTrip(t *testing.T) {
	assert.Equal(t, "héllo", roundTrip(t, "héllo"))
	assert.Equal(t, "", roundTrip(t, ""))
	assert.Equal(t, []byte{0, 1, 2}, roundTrip(t, []byte{0, 1, 2}))
	assert.Equal(t, true, roundTrip(t, true))
	assert.Equal(t, false, roundTrip(t, false))
	for _, n := range []int{0, 1, -1, math.MinInt, math.MaxInt} {
		assert.Equal(t, n, roundTrip(t, n))
	}
	assert.Equal(t, int8(math.MinInt8), roundTrip(t, int8(math.MinInt8)))
	assert.Equal(t, int16(math.MaxInt16), roundTrip(t, int16(math.MaxInt16)))
	assert.Equal(t, int32(math.MinInt32), roundTrip(t, int32(math.MinInt32)))
	assert.Equal(t, int64(math.MinInt64), roundTrip(t, int64(math.MinInt64)))
	assert.Equal(t, uint(math.MaxUint), roundTrip(t, uint(math.MaxUint)))
	assert.Equal(t, uint8(math.MaxUint8), roundTrip(t, uint8(math.MaxUint8)))
	assert.Equal(t, uint16(math.MaxUint16), roundTrip(t, uint16(math.MaxUint16)))
	assert.Equal(t, uint32(math.MaxUint32), roundTrip(t, uint32(math.MaxUint32)))
	assert.Equal(t, uint64(math.MaxUint64), roundTrip(t, uint64(math.MaxUint64)))
	assert.Equal(t, -2.5, roundTrip(t, -2.5))
	assert.True(t, math.IsNaN(roundTrip(t, math.NaN())))
	assert.Equal(t, point{-1, 7}, roundTrip(t, point{-1, 7}))
}

func TestCodecEncodings(t *testing.T) {
	// The encodings are part of the wire format: they must not change.
	encode := func(v any) []byte {
		data, err := encodeValue(v)
		require.NoError(t, err)
		return data
	}
	assert.Equal(t, []byte("ab"), encode("ab"))
	assert.Equal(t, []byte{1}, encode(true))
	assert.Equal(t, []byte{0}, encode(false))
	assert.Equal(t, []byte{3}, encode(-2), "signed integers are zigzag varints")
	assert.Equal(t, []byte{0xac, 0x02}, encode(uint16(300)))
	assert.Equal(t, []byte{0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, encode(1.0), "float64 is big-endian IEEE 754")
}

func TestCodecCopiesBytes(t *testing.T) {
	original := []byte{1, 2, 3}
	data, err := encodeValue(original)
	require.NoError(t, err)
	data[0] = 9
	assert.Equal(t, []byte{1, 2, 3}, original)
	decoded, err := decodeValue[[]byte](data)
	require.NoError(t, err)
	data[1] = 9
	assert.Equal(t, []byte{9, 2, 3}, decoded)
}

func TestCodecDecodeErrors(t *testing.T) {
	tooBig := binary.AppendVarint(nil, math.MaxInt32+1)
	tests := []struct {
		name   string
		decode func() error
		want   string
	}{
		{"bool empty", func() error { _, err := decodeValue[bool](nil); return err }, "bool needs one byte"},
		{"bool 2", func() error { _, err := decodeValue[bool]([]byte{2}); return err }, "bool needs one byte"},
		{"int truncated varint", func() error { _, err := decodeValue[int]([]byte{0x80}); return err }, "bad varint"},
		{"int trailing bytes", func() error { _, err := decodeValue[int]([]byte{1, 1}); return err }, "bad varint"},
		{"int8 out of range", func() error { _, err := decodeValue[int8](binary.AppendVarint(nil, 200)); return err }, "out of range"},
		{"int16 out of range", func() error { _, err := decodeValue[int16](binary.AppendVarint(nil, -40000)); return err }, "out of range"},
		{"int32 out of range", func() error { _, err := decodeValue[int32](tooBig); return err }, "out of range"},
		{"int64 empty", func() error { _, err := decodeValue[int64](nil); return err }, "bad varint"},
		{"uint truncated", func() error { _, err := decodeValue[uint]([]byte{0xff}); return err }, "bad uvarint"},
		{"uint8 out of range", func() error { _, err := decodeValue[uint8](binary.AppendUvarint(nil, 256)); return err }, "out of range"},
		{"uint16 out of range", func() error { _, err := decodeValue[uint16](binary.AppendUvarint(nil, 70000)); return err }, "out of range"},
		{"uint32 out of range", func() error { _, err := decodeValue[uint32](binary.AppendUvarint(nil, 1<<33)); return err }, "out of range"},
		{"uint64 overflow", func() error {
			_, err := decodeValue[uint64]([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
			return err
		}, "bad uvarint"},
		{"float64 short", func() error { _, err := decodeValue[float64]([]byte{1, 2}); return err }, "float64 needs 8 bytes"},
		{"BinaryUnmarshaler", func() error { _, err := decodeValue[point]([]byte{1}); return err }, "point needs 8 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode()
			require.ErrorIs(t, err, ErrDecode)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestCodecUnsupported(t *testing.T) {
	type opaque struct{ n int }
	_, err := encodeValue(opaque{1})
	require.ErrorIs(t, err, ErrUnsupportedElement)
	_, err = encodeValue(float32(1))
	require.ErrorIs(t, err, ErrUnsupportedElement)
	_, err = decodeValue[opaque]([]byte{1})
	require.ErrorIs(t, err, ErrUnsupportedElement)
}
