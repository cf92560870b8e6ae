package release

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Volume is one data volume claim of the release, as the cluster has it.
type Volume struct {
	Claim     string `json:"claim"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
	Phase     string `json:"phase"`
	// Requested is the claim's storage request; Capacity what the bound volume provides.
	Requested    string   `json:"requested"`
	Capacity     string   `json:"capacity,omitempty"`
	StorageClass string   `json:"storageClass,omitempty"`
	AccessModes  []string `json:"accessModes,omitempty"`
	// PersistentVolume is the bound volume; ReclaimPolicy its policy, when readable.
	PersistentVolume string `json:"persistentVolume,omitempty"`
	ReclaimPolicy    string `json:"reclaimPolicy,omitempty"`
	// StatefulSet is true for a claim a StatefulSet made from its volumeClaimTemplate
	// (rather than one Helm created from the chart's PVC).
	StatefulSet bool `json:"statefulSet"`
	// Keep is true when uninstall leaves the claim behind: it carries the keep
	// annotation, or a StatefulSet made it and does not own it (Helm never deletes those).
	Keep bool `json:"keep"`
}

func (v Volume) String() string {
	s := fmt.Sprintf("PVC %s/%s (%s requested", v.Namespace, v.Claim, v.Requested)
	if v.Capacity != "" {
		s += ", " + v.Capacity + " bound"
	}
	if v.StorageClass != "" {
		s += ", class " + v.StorageClass
	}
	if v.PersistentVolume != "" {
		s += ", volume " + v.PersistentVolume
		if v.ReclaimPolicy != "" {
			s += " reclaim " + v.ReclaimPolicy
		}
	}
	return s + ", " + v.Phase + ")"
}

// Volumes lists the release's data volume claims, found by the server's labels (which
// the chart's PVC carries and a StatefulSet copies onto the claims it makes).
func Volumes(ctx context.Context, kc kubernetes.Interface, namespace, release string) ([]Volume, error) {
	list, err := kc.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{LabelSelector: ServerSelector(release).String()})
	if err != nil {
		return nil, fmt.Errorf("listing the PVCs of release %s in namespace %s: %w", release, namespace, err)
	}
	out := make([]Volume, 0, len(list.Items))
	for _, pvc := range list.Items {
		out = append(out, volumeOf(ctx, kc, pvc))
	}
	slices.SortFunc(out, func(a, b Volume) int { return strings.Compare(a.Claim, b.Claim) })
	return out, nil
}

func volumeOf(ctx context.Context, kc kubernetes.Interface, pvc corev1.PersistentVolumeClaim) Volume {
	v := Volume{
		Claim: pvc.Name, Namespace: pvc.Namespace, UID: string(pvc.UID),
		Phase:            claimPhaseName(pvc),
		PersistentVolume: pvc.Spec.VolumeName,
		StatefulSet:      !helmCreated(pvc),
	}
	v.Keep = pvc.Annotations[KeepAnnotation] == keepValue || (v.StatefulSet && !ownedByStatefulSet(pvc))
	if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		v.Requested = q.String()
	}
	if q, ok := pvc.Status.Capacity[corev1.ResourceStorage]; ok {
		v.Capacity = q.String()
	}
	if pvc.Spec.StorageClassName != nil {
		v.StorageClass = *pvc.Spec.StorageClassName
	}
	for _, m := range pvc.Spec.AccessModes {
		v.AccessModes = append(v.AccessModes, string(m))
	}
	if v.PersistentVolume != "" {
		// Reading PersistentVolumes needs cluster-wide rights many users lack; the policy
		// is a detail, so its absence is no error.
		if pv, err := kc.CoreV1().PersistentVolumes().Get(ctx, v.PersistentVolume, metav1.GetOptions{}); err == nil {
			v.ReclaimPolicy = string(pv.Spec.PersistentVolumeReclaimPolicy)
		}
	}
	return v
}

func claimPhaseName(pvc corev1.PersistentVolumeClaim) string {
	if pvc.DeletionTimestamp != nil {
		return "Terminating"
	}
	if pvc.Status.Phase == "" {
		return string(corev1.ClaimPending)
	}
	return string(pvc.Status.Phase)
}

// helmCreated tells the chart's PVC (Helm marks what it creates) from a claim a
// StatefulSet made from its volumeClaimTemplate.
func helmCreated(pvc corev1.PersistentVolumeClaim) bool {
	_, ok := pvc.Annotations["meta.helm.sh/release-name"]
	return ok
}

// ownedByStatefulSet tells a claim its StatefulSet owns, which happens when the
// StatefulSet's retention policy deletes claims; then the claim goes with it.
func ownedByStatefulSet(pvc corev1.PersistentVolumeClaim) bool {
	for _, o := range pvc.OwnerReferences {
		if o.Kind == "StatefulSet" {
			return true
		}
	}
	return false
}
