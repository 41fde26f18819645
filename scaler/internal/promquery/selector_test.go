package promquery

import (
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    string // the matchers as Query writes them
		wantErr string // a part of the error
	}{
		{name: "empty", in: "", want: ""},
		{name: "blank", in: "  ", want: ""},
		{name: "one matcher", in: `job="kubelet"`, want: `job="kubelet"`},
		{
			name: "the kube-prometheus cAdvisor job", in: `job="kubelet",metrics_path="/metrics/cadvisor"`,
			want: `job="kubelet", metrics_path="/metrics/cadvisor"`,
		},
		{
			name: "every operator, with spaces", in: ` a = "1" , b != "2", c =~ "x|y" ,d!~"z.*" `,
			want: `a="1", b!="2", c=~"x|y", d!~"z.*"`,
		},
		{name: "escapes are re-quoted", in: `a="q\"uote\\back"`, want: `a="q\"uote\\back"`},
		{name: "a raw string is re-quoted", in: "a=`C:\\dir`", want: `a="C:\\dir"`},
		{name: "an empty value", in: `a=""`, want: `a=""`},
		{name: "unicode stays", in: `a="é"`, want: `a="é"`},

		// Nothing can leave the braces, or widen the query.
		{name: "closing the braces", in: `job="a"} or vector(1) #`, wantErr: "unexpected"},
		{name: "braces around it", in: `{job="a"}`, wantErr: "label name"},
		{name: "an unquoted value", in: `job=kubelet`, wantErr: "quoted"},
		{name: "single quotes", in: `job='kubelet'`, wantErr: "quoted"},
		{name: "an unterminated value", in: `job="kubelet`, wantErr: "unterminated"},
		{name: "a bad escape", in: `job="\q"`, wantErr: "invalid"},
		{name: "invalid UTF-8", in: "job=\"\xff\"", wantErr: "UTF-8"},
		{name: "an escape to invalid UTF-8", in: `job="\xff"`, wantErr: "UTF-8"},
		{name: "a regular expression that does not compile", in: `job=~"("`, wantErr: "regular expression"},
		{name: "a label name starting with a digit", in: `1job="a"`, wantErr: "label name"},
		{name: "a dot in a label name", in: `a.b="a"`, wantErr: "operator"},
		{name: "no operator", in: `job`, wantErr: "operator"},
		{name: "a double equals", in: `job=="a"`, wantErr: "quoted"},
		{name: "a trailing comma", in: `job="a",`, wantErr: "label name"},
		{name: "two commas", in: `job="a",,b="c"`, wantErr: "label name"},
		{name: "no comma between matchers", in: `job="a" b="c"`, wantErr: "unexpected"},
		{name: "the namespace the scaler sets itself", in: `namespace="kube-system"`, wantErr: "namespace"},
		{name: "the metric name", in: `__name__="other"`, wantErr: "reserved"},
		{name: "a reserved label", in: `__address__="x"`, wantErr: "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := ParseSelector(tc.in)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseSelector(%q) = %q, want an error about %q", tc.in, sel, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSelector(%q): %v", tc.in, err)
			}
			if got := sel.String(); got != tc.want {
				t.Errorf("ParseSelector(%q) = %s, want %s", tc.in, got, tc.want)
			}
			// What String writes parses back to the same.
			again, err := ParseSelector(sel.String())
			if err != nil || again.String() != sel.String() {
				t.Errorf("round trip of %s: %s, %v", sel, again, err)
			}
		})
	}
}

// FuzzParseSelector: whatever ParseSelector accepts, String writes matchers
// that parse back to the same ones, so the query holds exactly what was
// validated.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{`job="kubelet",metrics_path="/metrics/cadvisor"`, `a=~"x|y"`, "a=`b`", `a="\"}"`, `job="a"} or vector(1)`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		again, err := ParseSelector(sel.String())
		if err != nil {
			t.Fatalf("%q parsed as %s, which does not parse: %v", s, sel, err)
		}
		if len(again) != len(sel) {
			t.Fatalf("%q parsed as %s, which parses as %s", s, sel, again)
		}
		for i := range sel {
			if again[i] != sel[i] {
				t.Fatalf("%q parsed as %s, which parses as %s", s, sel, again)
			}
		}
	})
}
