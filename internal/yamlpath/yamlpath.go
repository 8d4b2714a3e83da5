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
// nodes (nil when absent). Mappings it leaves empty go too.
func Take(node *yaml.Node, path string) (key, val *yaml.Node) {
	if node == nil || node.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if k.Value == path {
			node.Content = append(node.Content[:i], node.Content[i+2:]...)
			return k, v
		}
		if rest, ok := strings.CutPrefix(path, k.Value+"."); ok {
			if key, val = Take(v, rest); key != nil {
				if len(v.Content) == 0 {
					node.Content = append(node.Content[:i], node.Content[i+2:]...)
				}
				return key, val
			}
		}
	}
	return nil, nil
}
