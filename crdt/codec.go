package crdt

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"math"
)

// encodeValue encodes an OR-set element or a register value. Strings and
// byte-free scalars have a fixed encoding; any other type must implement
// encoding.BinaryMarshaler (and, on its pointer, encoding.BinaryUnmarshaler).
func encodeValue[V any](v V) ([]byte, error) {
	switch x := any(v).(type) {
	case string:
		return []byte(x), nil
	case []byte:
		return append([]byte(nil), x...), nil
	case bool:
		if x {
			return []byte{1}, nil
		}
		return []byte{0}, nil
	case int:
		return binary.AppendVarint(nil, int64(x)), nil
	case int8:
		return binary.AppendVarint(nil, int64(x)), nil
	case int16:
		return binary.AppendVarint(nil, int64(x)), nil
	case int32:
		return binary.AppendVarint(nil, int64(x)), nil
	case int64:
		return binary.AppendVarint(nil, x), nil
	case uint:
		return binary.AppendUvarint(nil, uint64(x)), nil
	case uint8:
		return binary.AppendUvarint(nil, uint64(x)), nil
	case uint16:
		return binary.AppendUvarint(nil, uint64(x)), nil
	case uint32:
		return binary.AppendUvarint(nil, uint64(x)), nil
	case uint64:
		return binary.AppendUvarint(nil, x), nil
	case float64:
		return binary.BigEndian.AppendUint64(nil, math.Float64bits(x)), nil
	case encoding.BinaryMarshaler:
		return x.MarshalBinary()
	}
	return nil, fmt.Errorf("%w: %T", ErrUnsupportedElement, v)
}

// decodeValue is the inverse of encodeValue.
func decodeValue[V any](data []byte) (V, error) {
	var v V
	var err error
	switch p := any(&v).(type) {
	case *string:
		*p = string(data)
	case *[]byte:
		*p = append([]byte(nil), data...)
	case *bool:
		if len(data) != 1 || data[0] > 1 {
			err = fmt.Errorf("bool needs one byte 0 or 1, got %d bytes", len(data))
		} else {
			*p = data[0] == 1
		}
	case *int:
		var n int64
		n, err = decodeVarint(data, math.MinInt, math.MaxInt)
		*p = int(n)
	case *int8:
		var n int64
		n, err = decodeVarint(data, math.MinInt8, math.MaxInt8)
		*p = int8(n)
	case *int16:
		var n int64
		n, err = decodeVarint(data, math.MinInt16, math.MaxInt16)
		*p = int16(n)
	case *int32:
		var n int64
		n, err = decodeVarint(data, math.MinInt32, math.MaxInt32)
		*p = int32(n)
	case *int64:
		*p, err = decodeVarint(data, math.MinInt64, math.MaxInt64)
	case *uint:
		var n uint64
		n, err = decodeUvarint(data, math.MaxUint)
		*p = uint(n)
	case *uint8:
		var n uint64
		n, err = decodeUvarint(data, math.MaxUint8)
		*p = uint8(n)
	case *uint16:
		var n uint64
		n, err = decodeUvarint(data, math.MaxUint16)
		*p = uint16(n)
	case *uint32:
		var n uint64
		n, err = decodeUvarint(data, math.MaxUint32)
		*p = uint32(n)
	case *uint64:
		*p, err = decodeUvarint(data, math.MaxUint64)
	case *float64:
		if len(data) != 8 {
			err = fmt.Errorf("float64 needs 8 bytes, got %d", len(data))
		} else {
			*p = math.Float64frombits(binary.BigEndian.Uint64(data))
		}
	case encoding.BinaryUnmarshaler:
		err = p.UnmarshalBinary(data)
	default:
		return v, fmt.Errorf("%w: %T", ErrUnsupportedElement, v)
	}
	if err != nil {
		var zero V
		return zero, fmt.Errorf("%w: value of type %T: %v", ErrDecode, v, err)
	}
	return v, nil
}

func decodeVarint(data []byte, lo, hi int64) (int64, error) {
	n, read := binary.Varint(data)
	if read <= 0 || read != len(data) {
		return 0, fmt.Errorf("bad varint (%d bytes)", len(data))
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("varint %d out of range", n)
	}
	return n, nil
}

func decodeUvarint(data []byte, hi uint64) (uint64, error) {
	n, read := binary.Uvarint(data)
	if read <= 0 || read != len(data) {
		return 0, fmt.Errorf("bad uvarint (%d bytes)", len(data))
	}
	if n > hi {
		return 0, fmt.Errorf("uvarint %d out of range", n)
	}
	return n, nil
}
