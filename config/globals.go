package config

import "slices"

// applyGlobals folds the settings for every input into each input, as
// Filebeat applies them, and leaves the inputs that are disabled out:
//
//   - an input's tags, then its processors, then the top-level fields and
//     tags, then the top-level processors;
//   - top-level fields join an input's fields (the input's value wins for a
//     key both set) when both are under the root or neither is; otherwise
//     they are added by an add_fields after the input's processors.
//
// Afterwards the configuration says per input what it does, as export
// config prints it.
func (c *Config) applyGlobals() {
	var inputs []Input
	for _, in := range c.Inputs {
		if !in.Enabled {
			continue
		}
		var procs []Processor
		if len(in.Tags) > 0 {
			procs = append(procs, Processor{AddTags: &AddTags{Tags: in.Tags, Target: "tags"}})
		}
		procs = append(procs, in.Processors...)
		if len(c.Fields) > 0 {
			if in.FieldsUnderRoot == c.FieldsUnderRoot || len(in.Fields) == 0 {
				merged := make(map[string]any, len(c.Fields)+len(in.Fields))
				for k, v := range c.Fields {
					merged[k] = v
				}
				for k, v := range in.Fields {
					merged[k] = v
				}
				in.Fields, in.FieldsUnderRoot = merged, c.FieldsUnderRoot
			} else {
				target := "fields"
				if c.FieldsUnderRoot {
					target = ""
				}
				procs = append(procs, Processor{AddFields: &AddFields{Target: target, Fields: c.Fields}})
			}
		}
		if len(c.Tags) > 0 {
			procs = append(procs, Processor{AddTags: &AddTags{Tags: c.Tags, Target: "tags"}})
		}
		procs = append(procs, slices.Clone(c.Processors)...)
		in.Tags, in.Processors = nil, procs
		inputs = append(inputs, in)
	}
	c.Inputs = inputs
	c.Fields, c.FieldsUnderRoot, c.Tags, c.Processors = nil, false, nil, nil
}
