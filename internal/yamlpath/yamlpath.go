// Package yamlpath finds and removes keys in YAML mappings by dotted path,
// however a configuration writes them: whole ("a.b.c: 1"), nested, or a
// mix ("a.b: {c: 1}"), as Filebeat's configurations do.
package yamlpath

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Key is the key node of key in mapping node, or nil.
func Key(node *yaml.Node, key string) *yaml.Node {
	if i := index(node, key); i >= 0 {
		return node.Content[i]
	}
	return nil
}

// Value is the value node of key in mapping node, or nil.
func Value(node *yaml.Node, key string) *yaml.Node {
	if i := index(node, key); i >= 0 {
		return node.Content[i+1]
	}
	return nil
}

func index(node *yaml.Node, key string) int {
	if node == nil || node.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// Remove deletes key from mapping node.
func Remove(node *yaml.Node, key string) {
	if i := index(node, key); i >= 0 {
		node.Content = append(node.Content[:i], node.Content[i+2:]...)
	}
}

// Take removes the dotted path from node and returns its key and value
// nodes (nil when absent). Keys that go below the path ("a.b.c: 1" when
// taking "a.b") are taken too, merged into one mapping. Mappings it leaves
// empty go too.
func Take(node *yaml.Node, path string) (key, val *yaml.Node) {
	if node == nil || node.Kind != yaml.MappingNode {
		return nil, nil
	}
	var below []*yaml.Node // key, value pairs under the path, keys relative to it
	for i := 0; i+1 < len(node.Content); {
		k, v := node.Content[i], node.Content[i+1]
		switch rest, deeper := strings.CutPrefix(k.Value, path+"."); {
		case k.Value == path && key == nil:
			key, val = k, v
		case deeper && rest != "":
			if key == nil {
				key = k
			}
			below = append(below, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: rest, Line: k.Line, Column: k.Column}, v)
		default:
			if rest, ok := strings.CutPrefix(path, k.Value+"."); ok && val == nil && len(below) == 0 {
				if key, val = Take(v, rest); key != nil {
					if len(v.Content) == 0 {
						node.Content = append(node.Content[:i], node.Content[i+2:]...)
					}
					return key, val
				}
			}
			i += 2
			continue
		}
		node.Content = append(node.Content[:i], node.Content[i+2:]...)
	}
	if len(below) > 0 {
		merged := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: key.Line, Column: key.Column}
		if val != nil && val.Kind == yaml.MappingNode {
			merged.Content = append(merged.Content, val.Content...)
		}
		val = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: key.Line, Column: key.Column, Content: append(merged.Content, below...)}
	}
	return key, val
}
