// Package config is logship's YAML configuration: the schema, its defaults,
// ${VAR} and ${VAR:default} expansion, strict decoding (an unknown key is an
// error) and validation. Every problem is reported at once, each with the
// file, the line and the key's path, e.g.
//
//	agent.yml:7: inputs[0].paths: must not be empty
//
// Load is the only entry point the agent needs; the result is ready to use.
package config
