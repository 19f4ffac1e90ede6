// Package openapi holds the OpenAPI (Swagger 2.0) document of the REST facade,
// generated from the protos and the HTTP bindings in proto/http.yaml.
package openapi

import _ "embed"

// JSON is the merged OpenAPI document for every REST-exposed service.
//
//go:embed certbind.swagger.json
var JSON []byte
