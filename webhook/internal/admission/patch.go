package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// DefaultingPatch returns the RFC 6902 JSON patch that turns raw, a MemHpa as
// the apiserver sent it, into the same object with its defaults set, or nil
// when nothing needs a default. The patch is computed against raw itself,
// so fields this version does not know and the author's formatting are kept.
func DefaultingPatch(raw []byte) ([]byte, error) {
	var doc any
	if err := utiljson.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("read object: %w", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, errors.New("read object: not a JSON object")
	}
	obj := &v1alpha1.MemHpa{}
	if err := utiljson.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("read object as a MemHpa: %w", err)
	}
	defaulted := obj.DeepCopy()
	v1alpha1.SetDefaults(defaulted)

	// What defaulting changed, seen through the Go type; then the same change
	// laid over the raw document, and the patch from raw to that. Defaults
	// are set in the spec, so only the specs are compared when nothing else
	// changed: encoding and decoding the whole objects cost a review with
	// 1 MiB of annotations 4.4 MiB more (BenchmarkFullInFlightCap).
	var before, after any
	var at []string
	var err error
	if onlySpecChanged(obj, defaulted) {
		before, err = jsonValue(obj.Spec)
		if err == nil {
			after, err = jsonValue(defaulted.Spec)
		}
		at = []string{"spec"}
	} else {
		before, err = jsonValue(obj)
		if err == nil {
			after, err = jsonValue(defaulted)
		}
	}
	if err != nil {
		return nil, err
	}
	want := copyJSON(doc)
	for _, op := range diffJSON(before, after, at) {
		want = setPath(want, op.path, op.value, op.op == opRemove)
	}
	ops := diffJSON(doc, want, nil)
	if len(ops) == 0 {
		return nil, nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encode patch: %w", err)
	}
	return patch, nil
}

const (
	opAdd     = "add"
	opReplace = "replace"
	opRemove  = "remove"
)

type operation struct {
	op    string
	path  []string
	value any
}

// MarshalJSON writes the operation as RFC 6902 wants it: a remove has no value.
func (o operation) MarshalJSON() ([]byte, error) {
	m := map[string]any{"op": o.op, "path": pointer(o.path)}
	if o.op != opRemove {
		m["value"] = o.value
	}
	return json.Marshal(m)
}

// pointer is the RFC 6901 JSON pointer of a path of object keys.
func pointer(path []string) string {
	var b strings.Builder
	for _, key := range path {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// diffJSON returns operations that turn from into to. Objects are compared key
// by key; any other change (arrays included) replaces the value whole.
func diffJSON(from, to any, path []string) []operation {
	fromMap, fromOK := from.(map[string]any)
	toMap, toOK := to.(map[string]any)
	if !fromOK || !toOK {
		if reflect.DeepEqual(from, to) {
			return nil
		}
		return []operation{{op: opReplace, path: path, value: to}}
	}
	var ops []operation
	for _, key := range sortedKeys(fromMap) {
		if _, ok := toMap[key]; !ok {
			ops = append(ops, operation{op: opRemove, path: with(path, key)})
		}
	}
	for _, key := range sortedKeys(toMap) {
		fromValue, ok := fromMap[key]
		if !ok {
			ops = append(ops, operation{op: opAdd, path: with(path, key), value: toMap[key]})
			continue
		}
		ops = append(ops, diffJSON(fromValue, toMap[key], with(path, key))...)
	}
	return ops
}

// setPath sets (or removes) the value at path in doc, creating the objects on
// the way, and returns the changed document.
func setPath(doc any, path []string, value any, remove bool) any {
	if len(path) == 0 {
		return value
	}
	m, ok := doc.(map[string]any)
	if !ok {
		if remove {
			return doc
		}
		m = map[string]any{}
	}
	if len(path) == 1 && remove {
		delete(m, path[0])
		return m
	}
	m[path[0]] = setPath(m[path[0]], path[1:], value, remove)
	return m
}

// onlySpecChanged tells whether defaulted differs from obj in its spec
// alone.
func onlySpecChanged(obj, defaulted *v1alpha1.MemHpa) bool {
	probe := *defaulted
	probe.Spec = obj.Spec
	return equality.Semantic.DeepEqual(&probe, obj)
}

func jsonValue(obj any) (any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode MemHpa: %w", err)
	}
	var v any
	if err := utiljson.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("decode MemHpa: %w", err)
	}
	return v, nil
}

func copyJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = copyJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = copyJSON(x)
		}
		return out
	default:
		return v
	}
}

func with(path []string, key string) []string {
	return append(append(make([]string, 0, len(path)+1), path...), key)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
