package chart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// TestHelmLint lints the chart strictly, alone and with every value set.
func TestHelmLint(t *testing.T) {
	sets := append([]string{""}, valueSets(t)...)
	for _, file := range sets {
		name := "defaults"
		args := []string{"lint", "--strict", chartDir(t)}
		if file != "" {
			name = filepath.Base(file)
			args = append(args, "-f", file)
		}
		t.Run(name, func(t *testing.T) {
			if out, err := runHelm(t, args...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestSchemaRefusesBadValues: a typo or a bad value fails `helm template`
// (and so install and upgrade) with a message that names it.
func TestSchemaRefusesBadValues(t *testing.T) {
	tests := []struct {
		name    string
		set     string
		wantErr string // "" when the value is fine (the control rows)
	}{
		{"control: a valid timeout", "webhook.timeoutSeconds=10", ""},
		{"control: a valid duration", "scaler.syncPeriod=1m30s", ""},
		{"typo in a key", "webhook.timeoutSecond=5", "timeoutSecond"},
		{"typo at the top level", "replicas=3", "replicas"},
		{"typo in a security context", "webhook.securityContext.readOnlyRootFileSystem=false", "readOnlyRootFileSystem"},
		{"unknown failure policy", "webhook.failurePolicy=Maybe", "failurePolicy"},
		{"timeout above the apiserver's 30 s", "webhook.timeoutSeconds=31", "timeoutSeconds"},
		{"no replicas", "replicaCount=0", "replicaCount"},
		{"duration without unit", "scaler.syncPeriod=30", "syncPeriod"},
		{"unknown anti-affinity mode", "podAntiAffinity=sometimes", "podAntiAffinity"},
		{"unknown issuer kind", "certManager.issuerRef.kind=Vault", "kind"},
		{"wildcard scale target", "rbac.scaleTargets[0].resources[0]=*", "resources"},
		{"privileged port", "webhook.securePort=443", "securePort"},
		{"string for a boolean", "certManager.enabled=maybe", "enabled"},
		{"bad log format", "scaler.loggingFormat=xml", "loggingFormat"},
		{"control: a byte budget as a number", "webhook.maxInFlightBodyBytes=33554432", ""},
		{"no review in flight", "webhook.maxInFlightReviews=0", "maxInFlightReviews"},
		{"byte budget that is not a quantity", "webhook.maxInFlightBodyBytes=lots", "maxInFlightBodyBytes"},
		{"byte budget below the largest body", "webhook.maxInFlightBodyBytes=1000", "maxInFlightBodyBytes"},
		{"control: a webhook URL", "webhook.url=https://127.0.0.1:8443", ""},
		{"webhook URL over http", "webhook.url=http://127.0.0.1:8443", "url"},
		{"webhook URL with a trailing slash", "webhook.url=https://127.0.0.1:8443/", "url"},
		{"caBundle that is not base64", "webhook.caBundle=-----BEGIN", "caBundle"},
		{"control: shards", "scaler.shards=4", ""},
		{"no shard", "scaler.shards=0", "shards"},
		{"more shards than the scaler takes", "scaler.shards=65", "shards"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runHelm(t, templateArgs(t, "--set", tc.set)...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("--set %s was refused: %v", tc.set, err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("--set %s was accepted; the schema must refuse it", tc.set)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("--set %s: error does not name %q: %v", tc.set, tc.wantErr, err)
			case tc.wantErr != "" && !strings.Contains(err.Error(), "schema"):
				t.Fatalf("--set %s failed, but not in the schema: %v", tc.set, err)
			}
		})
	}
}

// schemaNode is the part of JSON Schema that values.schema.json uses.
type schemaNode struct {
	Schema               string                 `json:"$schema"`
	Type                 any                    `json:"type"`
	Description          string                 `json:"description"`
	Properties           map[string]*schemaNode `json:"properties"`
	AdditionalProperties json.RawMessage        `json:"additionalProperties"`
	Items                *schemaNode            `json:"items"`
	Default              json.RawMessage        `json:"default"`
	// Checked by helm, not by this test; listed so that a misspelt keyword
	// (which a validator would silently ignore) fails the decoding.
	Title            string          `json:"title"`
	Enum             json.RawMessage `json:"enum"`
	Pattern          string          `json:"pattern"`
	Minimum          json.RawMessage `json:"minimum"`
	Maximum          json.RawMessage `json:"maximum"`
	ExclusiveMaximum json.RawMessage `json:"exclusiveMaximum"`
	MinLength        json.RawMessage `json:"minLength"`
	MinItems         json.RawMessage `json:"minItems"`
	Required         []string        `json:"required"`
}

func (s *schemaNode) isObject() bool { return s.Type == "object" }

// kubernetesTyped are values whose schema describes a Kubernetes type: the
// schema may list fields that values.yaml leaves unset, and the whole object
// is compared with its default.
var kubernetesTyped = []string{
	"podSecurityContext", "webhook.securityContext", "scaler.securityContext",
	"webhook.resources", "scaler.resources", "webhook.namespaceSelector",
}

// passThrough are the only schema objects allowed to take any property: they
// are Kubernetes types handed unchanged to the manifests.
var passThrough = []string{
	"affinity", "tolerations[]", "topologySpreadConstraints[]", "extraVolumes[]",
	"scaler.extraVolumeMounts[]", "networkPolicy.webhookFrom[]", "networkPolicy.metricsFrom[]",
	"podSecurityContext.sysctls[]", "podSecurityContext.seLinuxOptions", "podSecurityContext.appArmorProfile",
	"webhook.securityContext.seLinuxOptions", "webhook.securityContext.appArmorProfile",
	"scaler.securityContext.seLinuxOptions", "scaler.securityContext.appArmorProfile",
}

// TestValuesAgreeWithSchema keeps the hand-kept values.schema.json and the
// annotated values.yaml in step: the same keys at every level, every default
// equal to the value in values.yaml, every value documented in both files, and
// additionalProperties set on every object (false unless it is a pass-through
// Kubernetes type).
func TestValuesAgreeWithSchema(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir(t), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // a keyword this test does not know is a keyword it does not check
	var root schemaNode
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	if root.Schema != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("$schema = %q, want draft-07", root.Schema)
	}
	valuesRaw, err := os.ReadFile(filepath.Join(chartDir(t), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(valuesRaw, &doc); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	if len(doc.Content) != 1 {
		t.Fatal("values.yaml is not one YAML document")
	}
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	checkStrictness(&root, "", report)
	compareValues(&root, doc.Content[0], "", report)
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("values.yaml and values.schema.json disagree:\n  %s", strings.Join(problems, "\n  "))
	}
}

// checkStrictness: every object in the schema says what it does with unknown
// properties, and only pass-through types accept any.
func checkStrictness(s *schemaNode, path string, report func(string, ...any)) {
	// Every property is described; so is every object in an array (plain
	// array items are described by their array).
	item := strings.HasSuffix(path, "[]")
	if path != "" && s.Description == "" && (!item || s.isObject()) {
		report("%s: no description in the schema", path)
	}
	if s.isObject() {
		ap := strings.TrimSpace(string(s.AdditionalProperties))
		switch {
		case ap == "":
			report("%s: object without additionalProperties", path)
		case ap == "true" && !slices.Contains(passThrough, path):
			report("%s: additionalProperties true, but it is not a pass-through Kubernetes type", path)
		case ap == "false" && len(s.Properties) == 0:
			report("%s: additionalProperties false and no properties: nothing can be set", path)
		}
	}
	for name, p := range s.Properties {
		checkStrictness(p, join(path, name), report)
	}
	if s.Items != nil {
		checkStrictness(s.Items, path+"[]", report)
	}
}

// compareValues walks the schema's chart-owned objects together with
// values.yaml.
func compareValues(s *schemaNode, v *yaml.Node, path string, report func(string, ...any)) {
	owned := s.isObject() && len(s.Properties) > 0 && !slices.Contains(kubernetesTyped, path)
	if !owned {
		compareDefault(s, v, path, report)
		return
	}
	if v.Kind != yaml.MappingNode {
		report("%s: an object in the schema, not a mapping in values.yaml", path)
		return
	}
	if len(s.Default) > 0 {
		report("%s: a default on an object whose fields are in values.yaml; put defaults on the fields", path)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i], v.Content[i+1]
		p := join(path, key.Value)
		seen[key.Value] = true
		if strings.TrimSpace(key.HeadComment) == "" && !(val.Kind == yaml.MappingNode && len(val.Content) > 0) {
			report("%s: no comment above it in values.yaml", p)
		}
		child, ok := s.Properties[key.Value]
		if !ok {
			report("%s: in values.yaml, not in the schema", p)
			continue
		}
		compareValues(child, val, p, report)
	}
	for name := range s.Properties {
		if !seen[name] {
			report("%s: in the schema, not in values.yaml", join(path, name))
		}
	}
}

func compareDefault(s *schemaNode, v *yaml.Node, path string, report func(string, ...any)) {
	if len(s.Default) == 0 {
		report("%s: no default in the schema", path)
		return
	}
	var fromValues any
	if err := v.Decode(&fromValues); err != nil {
		report("%s: %v", path, err)
		return
	}
	a, b := normalize(fromValues), normalize(s.Default)
	if !reflect.DeepEqual(a, b) {
		report("%s: schema default %s, values.yaml %s", path, b, a)
	}
}

// normalize turns a value into its canonical JSON text.
func normalize(v any) string {
	if raw, ok := v.(json.RawMessage); ok {
		var x any
		if err := json.Unmarshal(raw, &x); err != nil {
			return "invalid JSON: " + err.Error()
		}
		v = x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "unmarshalable: " + err.Error()
	}
	var x any
	_ = json.Unmarshal(b, &x)
	b, _ = json.Marshal(x)
	return string(b)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
