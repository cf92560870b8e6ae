package kube

import (
	"slices"

	storagev1 "k8s.io/api/storage/v1"
)

// The annotations that mark a StorageClass as the cluster default. Kubernetes' admission
// plugin still honours the beta one, so clusters set up long ago may carry only that.
const (
	DefaultStorageClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	BetaDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// IsDefaultStorageClass tells whether sc is marked as the default class, by either annotation.
func IsDefaultStorageClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[DefaultStorageClassAnnotation] == "true" || sc.Annotations[BetaDefaultStorageClassAnnotation] == "true"
}

// DefaultStorageClasses names the classes marked default, newest first: when several are,
// Kubernetes gives a claim without a class the newest one, so the first is the one in use.
func DefaultStorageClasses(classes []storagev1.StorageClass) []string {
	var defaults []*storagev1.StorageClass
	for i := range classes {
		if IsDefaultStorageClass(&classes[i]) {
			defaults = append(defaults, &classes[i])
		}
	}
	slices.SortStableFunc(defaults, func(a, b *storagev1.StorageClass) int {
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	names := make([]string, len(defaults))
	for i, sc := range defaults {
		names[i] = sc.Name
	}
	return names
}
