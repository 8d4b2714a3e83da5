package processor

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
)

// parser turns an event's message into fields.
type parser interface {
	parse(e *event.Event, host string)
}

// ndjson decodes the message as one JSON object.
type ndjson struct{ cfg config.NDJSON }

func newNDJSON(c *config.NDJSON) *ndjson { return &ndjson{cfg: *c} }

// protected are the fields logship sets, kept unless overwrite_keys.
var protected = map[string]bool{"@timestamp": true, "log": true, "input": true, "host": true, "fields": true, "stream": true, "kubernetes": true, "container": true}

var errTrailing = errors.New("data after the JSON object")

// decodeObject decodes text as exactly one JSON object, numbers kept exact.
func decodeObject(text []byte) (map[string]any, error) {
	v, err := decodeJSON(text, false)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// decodeJSON decodes text as exactly one JSON object (or, with arrays, an
// array too), numbers kept exact.
func decodeJSON(text []byte, arrays bool) (any, error) {
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	switch v.(type) {
	case map[string]any:
	case []any:
		if !arrays {
			return nil, errors.New("a JSON array, not an object (process_array is off)")
		}
	default:
		return nil, errors.New("not a JSON object")
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return v, nil
}

func (n *ndjson) parse(e *event.Event, host string) {
	obj, err := decodeObject(message(e))
	doc := e.MakeDoc(host)
	e.Doc = doc
	if err != nil {
		// Kept as it is, with the reason: never dropped.
		if n.cfg.AddErrorKey {
			event.Put(doc, "error.message", "ndjson: "+err.Error())
			event.Put(doc, "error.type", "json")
		}
		return
	}
	var msg any
	hasMsg := false
	if k := n.cfg.MessageKey; k != "" {
		if v, ok := event.Lookup(obj, k); ok {
			msg, hasMsg = v, true
			event.Delete(obj, k)
		}
	}
	if n.cfg.Target != "" {
		event.Put(doc, n.cfg.Target, obj)
	} else {
		if v, ok := obj["message"]; ok && !hasMsg {
			msg, hasMsg = v, true
		}
		delete(obj, "message")
		for k, v := range obj {
			if _, exists := doc[k]; exists && protected[k] && !n.cfg.OverwriteKeys {
				continue
			}
			doc[k] = v
		}
		if !hasMsg { // the line's content now lives in the fields
			delete(doc, "message")
		}
	}
	if hasMsg {
		doc["message"] = msg
	}
}
