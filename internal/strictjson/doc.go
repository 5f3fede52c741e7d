// Package strictjson is the one strict JSON decoder for request bodies: it
// rejects unknown and duplicate fields, matches field names by exact case,
// rejects trailing data, invalid UTF-8, lone surrogate escapes and NUL
// characters, caps arrays while it decodes them, and turns every failure into
// an *Error that names the field path (events[3].data.items[0].qty).
//
// It wraps github.com/go-json-experiment/json (the encoding/json/v2
// proposal), which already decodes strictly by default; this package adds the
// options, the caps, the NUL rule and the messages, so every body is held to
// the same rules.
package strictjson
