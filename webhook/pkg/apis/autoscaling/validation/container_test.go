package validation_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/validation"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// withContainer is local to this file while the shared builders move (issue 13).
func withContainer(name string) memhpagen.Option {
	return func(m *v1alpha1.MemHpa) { m.Spec.Container = name }
}

const dnsLabelMsg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"

func TestValidateContainer(t *testing.T) {
	container := spec.Child("container")
	long := strings.Repeat("a", 64)
	tests := []struct {
		name string
		obj  *v1alpha1.MemHpa
		want field.ErrorList
	}{
		{name: "unset", obj: memhpagen.MemHpa("web")},
		{name: "a DNS label", obj: memhpagen.MemHpa("web", withContainer("app"))},
		{name: "63 characters", obj: memhpagen.MemHpa("web", withContainer(long[:63]))},
		{name: "upper case", obj: memhpagen.MemHpa("web", withContainer("App")),
			want: field.ErrorList{field.Invalid(container, "App", dnsLabelMsg)}},
		{name: "a dot", obj: memhpagen.MemHpa("web", withContainer("app.v1")),
			want: field.ErrorList{field.Invalid(container, "app.v1", "must not contain dots")}},
		{name: "64 characters", obj: memhpagen.MemHpa("web", withContainer(long)),
			want: field.ErrorList{field.Invalid(container, long, "must be no more than 63 characters")}},
		{name: "with another bad field, both reported", obj: memhpagen.MemHpa("web", withContainer("-app"), memhpagen.WithMin(0)),
			want: field.ErrorList{
				field.Invalid(spec.Child("minReplicas"), int32(0), "must be greater than or equal to 1"),
				field.Invalid(container, "-app", dnsLabelMsg),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, validation.Validate(tt.obj), tt.want)
		})
	}
}
