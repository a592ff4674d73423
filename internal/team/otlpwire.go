package team

import (
	"encoding/binary"
	"errors"
	"math"
	"unicode/utf8"
)

// The OTLP logs request is decoded by hand, not with the protobuf module
// and the generated OTLP types: those made every ctm process, a
// statusline or a report as much as the server, 0.8 ms slower to start
// (their descriptors are built and registered at init) and the binary
// 1.7 MB larger, for one endpoint of team mode. The decoder reads the
// part of the request Records uses and checks the rest as the protobuf
// module does (wire format, UTF-8 of every string field, nesting), so a
// request is accepted or refused as before; otlpwire_test.go compares the
// two on fuzzed bodies.

// otlpLogs is an OTLP logs request: LogsData, or ExportLogsServiceRequest,
// which has the same wire form (field 1: repeated ResourceLogs).
type otlpLogs struct {
	resourceLogs []otlpResourceLogs
}

// otlpResourceLogs is a ResourceLogs: the resource's attributes and its
// scopes' log records.
type otlpResourceLogs struct {
	resource  []otlpKeyValue
	scopeLogs []otlpScopeLogs
}

// otlpScopeLogs is a ScopeLogs; the scope itself is not used.
type otlpScopeLogs struct {
	logRecords []otlpLogRecord
}

// otlpLogRecord is the part of a LogRecord that Records reads.
type otlpLogRecord struct {
	timeUnixNano, observedTimeUnixNano uint64
	eventName                          string
	// body is nil when the record has none.
	body       *otlpValue
	attributes []otlpKeyValue
}

// otlpKeyValue is one attribute; value is nil when it has none.
type otlpKeyValue struct {
	key   string
	value *otlpValue
}

// otlpValueKind is which member of an AnyValue is set.
type otlpValueKind uint8

const (
	otlpNone otlpValueKind = iota
	otlpString
	otlpBool
	otlpInt
	otlpDouble
	// otlpOther is an array, a key-value list or bytes: never a string
	// or a number, so Records only needs to know it is there.
	otlpOther
)

// otlpValue is an AnyValue.
type otlpValue struct {
	kind otlpValueKind
	str  string
	num  int64
	dbl  float64
}

// stringValue returns v's string, or "" when v is nil or not a string.
func (v *otlpValue) stringValue() string {
	if v == nil || v.kind != otlpString {
		return ""
	}
	return v.str
}

// maxOTLPDepth is how deeply messages may nest, the protobuf module's own
// limit: AnyValue arrays and lists can nest without end, and each level
// of the decoder is a call.
const maxOTLPDepth = 10000

// errOTLPWire is every malformed request: the response says only that the
// body is not a valid request, as before.
var errOTLPWire = errors.New("invalid OTLP protobuf")

// The protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireStart   = 3
	wireEnd     = 4
	wireFixed32 = 5
)

// wireReader reads one message's fields.
type wireReader struct {
	b     []byte
	depth int
}

// next reads the next field's tag: its number and wire type.
func (r *wireReader) next() (num int32, typ int, err error) {
	v, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	if v>>3 == 0 || v>>3 > math.MaxInt32>>2 { // field numbers are 1..2^29-1
		return 0, 0, errOTLPWire
	}
	return int32(v >> 3), int(v & 7), nil
}

func (r *wireReader) varint() (uint64, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		if i == len(r.b) {
			return 0, errOTLPWire
		}
		c := r.b[i]
		if i == 9 && c > 1 {
			return 0, errOTLPWire // more than 64 bits
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			r.b = r.b[i+1:]
			return v, nil
		}
	}
	return 0, errOTLPWire
}

func (r *wireReader) fixed64() (uint64, error) {
	if len(r.b) < 8 {
		return 0, errOTLPWire
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v, nil
}

// bytes reads a length-delimited field's contents.
func (r *wireReader) bytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil || n > uint64(len(r.b)) {
		return nil, errOTLPWire
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v, nil
}

// str reads a string field, which must be UTF-8 (proto3).
func (r *wireReader) str() (string, error) {
	b, err := r.bytes()
	if err != nil || !utf8.Valid(b) {
		return "", errOTLPWire
	}
	return string(b), nil
}

// sub returns a reader of a nested message.
func (r *wireReader) sub() (wireReader, error) {
	b, err := r.bytes()
	if err != nil || r.depth+1 > maxOTLPDepth {
		return wireReader{}, errOTLPWire
	}
	return wireReader{b: b, depth: r.depth + 1}, nil
}

// skip reads past a field of wire type typ that the decoder does not use
// (or that has an unexpected type, which protobuf also keeps as unknown).
func (r *wireReader) skip(num int32, typ int) error {
	switch typ {
	case wireVarint:
		_, err := r.varint()
		return err
	case wireFixed64:
		_, err := r.fixed64()
		return err
	case wireBytes:
		_, err := r.bytes()
		return err
	case wireFixed32:
		if len(r.b) < 4 {
			return errOTLPWire
		}
		r.b = r.b[4:]
		return nil
	case wireStart:
		// A group runs to the end tag of the same field number.
		if r.depth+1 > maxOTLPDepth {
			return errOTLPWire
		}
		r.depth++
		defer func() { r.depth-- }()
		for {
			if len(r.b) == 0 {
				return errOTLPWire
			}
			n, t, err := r.next()
			if err != nil {
				return err
			}
			if t == wireEnd {
				if n != num {
					return errOTLPWire
				}
				return nil
			}
			if err := r.skip(n, t); err != nil {
				return err
			}
		}
	}
	return errOTLPWire // an end tag without a start, or wire type 6 or 7
}

// fields calls fn for each field of the message; fn returns false for a
// field it does not read, which is then skipped.
func (r *wireReader) fields(fn func(num int32, typ int) (bool, error)) error {
	for len(r.b) > 0 {
		num, typ, err := r.next()
		if err != nil {
			return err
		}
		used, err := fn(num, typ)
		if err != nil {
			return err
		}
		if !used {
			if err := r.skip(num, typ); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeOTLPProto decodes a binary OTLP logs request.
func decodeOTLPProto(b []byte) (*otlpLogs, error) {
	data := &otlpLogs{}
	r := wireReader{b: b}
	err := r.fields(func(num int32, typ int) (bool, error) {
		if num != 1 || typ != wireBytes {
			return false, nil
		}
		sub, err := r.sub()
		if err != nil {
			return true, err
		}
		var rl otlpResourceLogs
		err = rl.decode(&sub)
		data.resourceLogs = append(data.resourceLogs, rl)
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// decode merges a ResourceLogs message into rl.
func (rl *otlpResourceLogs) decode(r *wireReader) error {
	return r.fields(func(num int32, typ int) (bool, error) {
		if typ != wireBytes {
			return false, nil
		}
		switch num {
		case 1: // resource
			sub, err := r.sub()
			if err != nil {
				return true, err
			}
			return true, decodeResource(&sub, &rl.resource)
		case 2: // scope_logs
			sub, err := r.sub()
			if err != nil {
				return true, err
			}
			var sl otlpScopeLogs
			err = sl.decode(&sub)
			rl.scopeLogs = append(rl.scopeLogs, sl)
			return true, err
		case 3: // schema_url
			_, err := r.str()
			return true, err
		}
		return false, nil
	})
}

// decodeResource appends a Resource's attributes to attrs.
func decodeResource(r *wireReader, attrs *[]otlpKeyValue) error {
	return r.fields(func(num int32, typ int) (bool, error) {
		if typ != wireBytes {
			return false, nil
		}
		switch num {
		case 1: // attributes
			return true, appendKeyValue(r, attrs)
		case 3: // entity_refs
			sub, err := r.sub()
			if err != nil {
				return true, err
			}
			return true, checkEntityRef(&sub)
		}
		return false, nil
	})
}

// checkEntityRef checks the strings of an EntityRef, which Records does
// not use.
func checkEntityRef(r *wireReader) error {
	return r.fields(func(num int32, typ int) (bool, error) {
		if typ != wireBytes || num < 1 || num > 4 { // schema_url, type, id_keys, description_keys
			return false, nil
		}
		_, err := r.str()
		return true, err
	})
}

// decode merges a ScopeLogs message into sl.
func (sl *otlpScopeLogs) decode(r *wireReader) error {
	return r.fields(func(num int32, typ int) (bool, error) {
		if typ != wireBytes {
			return false, nil
		}
		switch num {
		case 1: // scope
			sub, err := r.sub()
			if err != nil {
				return true, err
			}
			return true, checkScope(&sub)
		case 2: // log_records
			sub, err := r.sub()
			if err != nil {
				return true, err
			}
			var lr otlpLogRecord
			err = lr.decode(&sub)
			sl.logRecords = append(sl.logRecords, lr)
			return true, err
		case 3: // schema_url
			_, err := r.str()
			return true, err
		}
		return false, nil
	})
}

// checkScope checks an InstrumentationScope, which Records does not use.
func checkScope(r *wireReader) error {
	var attrs []otlpKeyValue
	return r.fields(func(num int32, typ int) (bool, error) {
		if typ != wireBytes {
			return false, nil
		}
		switch num {
		case 1, 2: // name, version
			_, err := r.str()
			return true, err
		case 3: // attributes
			attrs = attrs[:0]
			return true, appendKeyValue(r, &attrs)
		}
		return false, nil
	})
}

// decode merges a LogRecord message into lr.
func (lr *otlpLogRecord) decode(r *wireReader) error {
	return r.fields(func(num int32, typ int) (bool, error) {
		var err error
		switch {
		case num == 1 && typ == wireFixed64:
			lr.timeUnixNano, err = r.fixed64()
		case num == 11 && typ == wireFixed64:
			lr.observedTimeUnixNano, err = r.fixed64()
		case num == 12 && typ == wireBytes:
			lr.eventName, err = r.str()
		case num == 3 && typ == wireBytes: // severity_text
			_, err = r.str()
		case num == 5 && typ == wireBytes:
			var sub wireReader
			if sub, err = r.sub(); err == nil {
				if lr.body == nil {
					lr.body = &otlpValue{}
				}
				err = lr.body.decode(&sub)
			}
		case num == 6 && typ == wireBytes:
			err = appendKeyValue(r, &lr.attributes)
		default:
			return false, nil
		}
		return true, err
	})
}

// appendKeyValue reads a KeyValue message and appends it to kvs.
func appendKeyValue(r *wireReader, kvs *[]otlpKeyValue) error {
	sub, err := r.sub()
	if err != nil {
		return err
	}
	var kv otlpKeyValue
	err = sub.fields(func(num int32, typ int) (bool, error) {
		if typ != wireBytes {
			return false, nil
		}
		switch num {
		case 1:
			var err error
			kv.key, err = sub.str()
			return true, err
		case 2:
			v, err := sub.sub()
			if err != nil {
				return true, err
			}
			if kv.value == nil {
				kv.value = &otlpValue{}
			}
			return true, kv.value.decode(&v)
		}
		return false, nil
	})
	*kvs = append(*kvs, kv)
	return err
}

// decode merges an AnyValue message into v: the last member set wins, as
// in a protobuf oneof.
func (v *otlpValue) decode(r *wireReader) error {
	return r.fields(func(num int32, typ int) (bool, error) {
		var err error
		switch {
		case num == 1 && typ == wireBytes:
			var s string
			if s, err = r.str(); err == nil {
				*v = otlpValue{kind: otlpString, str: s}
			}
		case num == 2 && typ == wireVarint:
			if _, err = r.varint(); err == nil {
				*v = otlpValue{kind: otlpBool}
			}
		case num == 3 && typ == wireVarint:
			var n uint64
			if n, err = r.varint(); err == nil {
				*v = otlpValue{kind: otlpInt, num: int64(n)}
			}
		case num == 4 && typ == wireFixed64:
			var n uint64
			if n, err = r.fixed64(); err == nil {
				*v = otlpValue{kind: otlpDouble, dbl: math.Float64frombits(n)}
			}
		case (num == 5 || num == 6) && typ == wireBytes: // array_value, kvlist_value
			var sub wireReader
			if sub, err = r.sub(); err == nil {
				err = checkValueList(&sub, num == 6)
				*v = otlpValue{kind: otlpOther}
			}
		case num == 7 && typ == wireBytes: // bytes_value
			if _, err = r.bytes(); err == nil {
				*v = otlpValue{kind: otlpOther}
			}
		default:
			return false, nil
		}
		return true, err
	})
}

// checkValueList checks an ArrayValue (repeated AnyValue) or, with kv, a
// KeyValueList (repeated KeyValue); Records uses neither.
func checkValueList(r *wireReader, kv bool) error {
	var kvs []otlpKeyValue
	return r.fields(func(num int32, typ int) (bool, error) {
		if num != 1 || typ != wireBytes {
			return false, nil
		}
		if kv {
			kvs = kvs[:0]
			return true, appendKeyValue(r, &kvs)
		}
		sub, err := r.sub()
		if err != nil {
			return true, err
		}
		var v otlpValue
		return true, v.decode(&sub)
	})
}
