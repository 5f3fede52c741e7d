// Package reportd holds files that ship inside the binaries.
package reportd

import _ "embed"

// OpenAPI is the HTTP contract, served at /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
