package kube

import (
	"slices"
	"testing"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDefaultStorageClasses(t *testing.T) {
	class := func(name string, year int, annotations map[string]string) storagev1.StorageClass {
		return storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{
			Name: name, Annotations: annotations,
			CreationTimestamp: metav1.NewTime(time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)),
		}}
	}
	ga := map[string]string{DefaultStorageClassAnnotation: "true"}
	beta := map[string]string{BetaDefaultStorageClassAnnotation: "true"}
	tests := []struct {
		name    string
		classes []storagev1.StorageClass
		want    []string
	}{
		{"none", nil, []string{}},
		{"no class is marked", []storagev1.StorageClass{class("a", 2020, nil), class("b", 2021, map[string]string{DefaultStorageClassAnnotation: "false"})}, []string{}},
		{"GA annotation", []storagev1.StorageClass{class("a", 2020, nil), class("fast", 2021, ga)}, []string{"fast"}},
		{"beta annotation only", []storagev1.StorageClass{class("legacy", 2015, beta), class("b", 2021, nil)}, []string{"legacy"}},
		{"not \"true\" is not default", []storagev1.StorageClass{class("a", 2020, map[string]string{BetaDefaultStorageClassAnnotation: "yes"})}, []string{}},
		{"several: newest first", []storagev1.StorageClass{class("old", 2015, beta), class("new", 2024, ga), class("mid", 2020, ga)}, []string{"new", "mid", "old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DefaultStorageClasses(tt.classes)
			if !slices.Equal(got, tt.want) {
				t.Errorf("DefaultStorageClasses = %q, want %q", got, tt.want)
			}
			for _, sc := range tt.classes {
				if IsDefaultStorageClass(&sc) != slices.Contains(tt.want, sc.Name) {
					t.Errorf("IsDefaultStorageClass(%s) = %v, want %v", sc.Name, !slices.Contains(tt.want, sc.Name), slices.Contains(tt.want, sc.Name))
				}
			}
		})
	}
}
