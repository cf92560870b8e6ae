package remotewrite

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/kube"
)

// CheckSecrets makes sure every referenced key exists in its Secret in namespace, reading
// each Secret once. The error names the Secret and key and how to create it; it never
// contains the Secret's data.
func CheckSecrets(ctx context.Context, c kubernetes.Interface, namespace string, refs []SecretKeyRef) error {
	keys := map[string][]string{}
	var order []string
	for _, r := range refs {
		if _, ok := keys[r.Secret]; !ok {
			order = append(order, r.Secret)
		}
		keys[r.Secret] = append(keys[r.Secret], r.Key)
	}
	var errs []error
	for _, name := range order {
		s, err := c.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("secret %s does not exist in namespace %s; create it first: %s", name, namespace, createHint(name, namespace, keys[name])))
			continue
		}
		if err != nil {
			errs = append(errs, kube.ExplainAPIError("get", "secrets", namespace, name, err))
			continue
		}
		var missing []string
		for _, k := range keys[name] {
			if _, ok := s.Data[k]; !ok {
				if _, ok := s.StringData[k]; !ok {
					missing = append(missing, k)
				}
			}
		}
		for _, k := range missing {
			errs = append(errs, fmt.Errorf("secret %s in namespace %s has no key %q; add it, e.g. recreate it: %s", name, namespace, k, createHint(name, namespace, keys[name])))
		}
	}
	return errors.Join(errs...)
}

func createHint(name, namespace string, keys []string) string {
	cmd := fmt.Sprintf("kubectl create secret generic %s -n %s", name, namespace)
	for _, k := range keys {
		cmd += fmt.Sprintf(" --from-literal=%s=...", k)
	}
	return cmd
}
