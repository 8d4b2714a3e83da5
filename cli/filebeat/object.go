package filebeat

import (
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/logship/logship/internal/yamlpath"
)

// object builds a YAML mapping in the order its keys are set.
type object struct{ node *yaml.Node }

func newObject() *object { return &object{node: &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}} }

// set puts key: v (a *yaml.Node, an *object, or a Go value to encode).
func (o *object) set(key string, v any) {
	var n *yaml.Node
	switch x := v.(type) {
	case *yaml.Node:
		n = clean(x)
	case *object:
		n = x.node
	default:
		n = new(yaml.Node)
		if err := n.Encode(v); err != nil {
			panic(err) // only the translation's own values come here
		}
	}
	yamlpath.Remove(o.node, key)
	o.node.Content = append(o.node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, n)
}

// put is set with a dotted key written nested ("retry.backoff" is
// retry: {backoff: …}).
func (o *object) put(path string, v any) {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		o.set(path, v)
		return
	}
	sub := &object{node: yamlpath.Value(o.node, head)}
	if sub.node == nil || sub.node.Kind != yaml.MappingNode {
		sub = newObject()
		o.set(head, sub)
	}
	sub.put(rest, v)
}

// first moves the keys named, those set, to the front in that order.
func (o *object) first(keys ...string) {
	var front, rest []*yaml.Node
	for _, k := range keys {
		if i := slices.IndexFunc(pairs(o.node), func(n *yaml.Node) bool { return n.Value == k }); i >= 0 {
			front = append(front, o.node.Content[2*i], o.node.Content[2*i+1])
		}
	}
	for i := 0; i+1 < len(o.node.Content); i += 2 {
		if !slices.Contains(keys, o.node.Content[i].Value) {
			rest = append(rest, o.node.Content[i], o.node.Content[i+1])
		}
	}
	o.node.Content = append(front, rest...)
}

// pairs are a mapping's keys.
func pairs(n *yaml.Node) []*yaml.Node {
	var keys []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i])
	}
	return keys
}

func (o *object) empty() bool { return len(o.node.Content) == 0 }

// clean is a copy of n without its comments and positions, which would
// otherwise be printed where they no longer belong.
func clean(n *yaml.Node) *yaml.Node {
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	c.Line, c.Column = 0, 0
	c.Style &^= yaml.FlowStyle
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return clean(n.Alias)
	}
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = clean(x)
	}
	return &c
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

func isTrue(n *yaml.Node) bool {
	b, err := strconv.ParseBool(n.Value)
	return n.Kind == yaml.ScalarNode && err == nil && b
}

func mapping(key string, v *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{scalar(key), v}}
}
