package release

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxNameLength is Helm's limit on a release name: the chart's resource names append
// suffixes to it and must stay within Kubernetes' 63 characters.
const MaxNameLength = 53

// ValidateName is the one rule for a release name, applied wherever a command names a
// release: a lower-case DNS label of at most MaxNameLength characters.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("the release name is empty: give one such as prometheus")
	}
	var problems []string
	if len(name) > MaxNameLength {
		problems = append(problems, fmt.Sprintf("it is %d characters long, Helm allows at most %d", len(name), MaxNameLength))
	}
	problems = append(problems, validation.IsDNS1123Label(name)...)
	if len(problems) > 0 {
		return fmt.Errorf("release name %q is invalid: Helm needs a lower-case DNS label (a-z, 0-9 and '-') of at most %d characters (%s)",
			name, MaxNameLength, strings.Join(problems, "; "))
	}
	return nil
}
