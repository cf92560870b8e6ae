//go:build e2e

package framework

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/release"
)

// ServerPod waits up to two minutes for a Ready, not terminating, server pod of the
// release in namespace (an upgrade rolls the pod: the old one may still be listed).
func ServerPod(t testing.TB, kc kubernetes.Interface, namespace, releaseName string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	Eventually(t, 2*time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pods, err := kc.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: release.ServerSelector(releaseName).String()})
		if err != nil {
			return err
		}
		for i := range pods.Items {
			if kube.PodReady(&pods.Items[i]) && pods.Items[i].DeletionTimestamp == nil {
				pod = &pods.Items[i]
				return nil
			}
		}
		return fmt.Errorf("%d server pods of release %s, none ready", len(pods.Items), releaseName)
	})
	return pod
}
