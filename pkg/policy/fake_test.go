package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/meshmon/meshmon/pkg/change"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func testGVRs() map[string]schema.GroupVersionResource {
	return map[string]schema.GroupVersionResource{
		KindServer:                {Group: Group, Version: "v1beta3", Resource: "servers"},
		KindHTTPRoute:             {Group: Group, Version: "v1beta3", Resource: "httproutes"},
		KindAuthorizationPolicy:   {Group: Group, Version: "v1alpha1", Resource: "authorizationpolicies"},
		KindMeshTLSAuthentication: {Group: Group, Version: "v1alpha1", Resource: "meshtlsauthentications"},
		KindNetworkAuthentication: {Group: Group, Version: "v1alpha1", Resource: "networkauthentications"},
	}
}

// fakeCluster is a dynamic fake behaving like an API server where it matters here:
// resourceVersions, optimistic concurrency on update, dry runs and UID preconditions.
type fakeCluster struct {
	t       *testing.T
	dyn     *dynamicfake.FakeDynamicClient
	kube    *kubefake.Clientset
	ssa     *fakeSSA
	mu      sync.Mutex
	rv      int
	denied  map[string]bool // "verb resource namespace" refused by SelfSubjectAccessReview
	reviews []authorizationv1.ResourceAttributes
}

func newFakeCluster(t *testing.T, objs ...runtime.Object) *fakeCluster {
	t.Helper()
	listKinds := map[schema.GroupVersionResource]string{}
	for kind, gvr := range testGVRs() {
		listKinds[gvr] = kind + "List"
	}
	f := &fakeCluster{t: t, denied: map[string]bool{}}
	f.kube = kubefake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "linkerd-viz"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "emojivoto"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "booksapp"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "linkerd-viz", Name: "metrics-api"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "grafana", Name: "grafana"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "grafana"}},
	)
	f.setDiscovery(true, true)
	f.kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		attrs := *r.Spec.ResourceAttributes
		f.mu.Lock()
		f.reviews = append(f.reviews, attrs)
		f.mu.Unlock()
		r.Status.Allowed = !f.denied[attrs.Verb+" "+attrs.Resource+" "+attrs.Namespace]
		return true, r, nil
	})

	f.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds)
	tr := f.dyn.Tracker()
	f.dyn.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca := a.(k8stesting.CreateActionImpl)
		obj := ca.GetObject().(*unstructured.Unstructured).DeepCopy()
		f.stamp(obj)
		if slices.Contains(ca.CreateOptions.DryRun, metav1.DryRunAll) {
			return true, obj, nil
		}
		return true, obj, tr.Create(ca.GetResource(), obj, ca.GetNamespace())
	})
	f.dyn.PrependReactor("update", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ua := a.(k8stesting.UpdateActionImpl)
		obj := ua.GetObject().(*unstructured.Unstructured).DeepCopy()
		cur, err := tr.Get(ua.GetResource(), ua.GetNamespace(), obj.GetName())
		if err != nil {
			return true, nil, err
		}
		if rv := obj.GetResourceVersion(); rv != "" && rv != cur.(*unstructured.Unstructured).GetResourceVersion() {
			return true, nil, apierrors.NewConflict(ua.GetResource().GroupResource(), obj.GetName(), errors.New("the object has been modified"))
		}
		f.stamp(obj)
		if slices.Contains(ua.UpdateOptions.DryRun, metav1.DryRunAll) {
			return true, obj, nil
		}
		return true, obj, tr.Update(ua.GetResource(), obj, ua.GetNamespace())
	})
	f.dyn.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		da := a.(k8stesting.DeleteActionImpl)
		cur, err := tr.Get(da.GetResource(), da.GetNamespace(), da.GetName())
		if err != nil {
			return true, nil, err
		}
		if p := da.DeleteOptions.Preconditions; p != nil && p.UID != nil && *p.UID != cur.(*unstructured.Unstructured).GetUID() {
			return true, nil, apierrors.NewConflict(da.GetResource().GroupResource(), da.GetName(), errors.New("UID precondition failed"))
		}
		if slices.Contains(da.DeleteOptions.DryRun, metav1.DryRunAll) {
			return true, nil, nil
		}
		return true, nil, tr.Delete(da.GetResource(), da.GetNamespace(), da.GetName())
	})
	f.ssa = &fakeSSA{f: f}
	for _, o := range objs {
		u := o.(*unstructured.Unstructured)
		f.stamp(u)
		if err := tr.Create(testGVRs()[u.GetKind()], u, u.GetNamespace()); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fakeCluster) clients() Clients {
	return Clients{Dynamic: f.dyn, Kube: f.kube, applier: f.ssa}
}

func (f *fakeCluster) stamp(o *unstructured.Unstructured) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	o.SetResourceVersion(strconv.Itoa(f.rv))
	if o.GetUID() == "" {
		o.SetUID(types.UID(fmt.Sprintf("uid-%d", f.rv)))
	}
}

// setDiscovery serves the policy.linkerd.io versions; v1beta3=false models Linkerd < 2.16.
func (f *fakeCluster) setDiscovery(v1alpha1, v1beta3 bool) {
	var lists []*metav1.APIResourceList
	if v1alpha1 {
		lists = append(lists, &metav1.APIResourceList{GroupVersion: Group + "/v1alpha1", APIResources: []metav1.APIResource{
			{Name: "authorizationpolicies", Kind: KindAuthorizationPolicy, Namespaced: true},
			{Name: "meshtlsauthentications", Kind: KindMeshTLSAuthentication, Namespaced: true},
			{Name: "networkauthentications", Kind: KindNetworkAuthentication, Namespaced: true},
			{Name: "httproutes", Kind: KindHTTPRoute, Namespaced: true},
			{Name: "httproutes/status", Kind: KindHTTPRoute, Namespaced: true},
		}})
	}
	if v1beta3 {
		lists = append(lists, &metav1.APIResourceList{GroupVersion: Group + "/v1beta3", APIResources: []metav1.APIResource{
			{Name: "servers", Kind: KindServer, Namespaced: true},
			{Name: "httproutes", Kind: KindHTTPRoute, Namespaced: true},
		}})
	}
	f.kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = lists
}

func (f *fakeCluster) get(kind, ns, name string) *unstructured.Unstructured {
	f.t.Helper()
	o, err := f.dyn.Tracker().Get(testGVRs()[kind], ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return o.(*unstructured.Unstructured)
}

func (f *fakeCluster) put(o *unstructured.Unstructured) {
	f.t.Helper()
	f.stamp(o)
	if err := f.dyn.Tracker().Update(testGVRs()[o.GetKind()], o, o.GetNamespace()); err != nil {
		f.t.Fatal(err)
	}
}

// count returns how many objects of all policy kinds the cluster stores.
func (f *fakeCluster) count() int {
	n := 0
	for kind, gvr := range testGVRs() {
		l, err := f.dyn.Tracker().List(gvr, gvr.GroupVersion().WithKind(kind), "")
		if err != nil {
			f.t.Fatal(err)
		}
		n += len(l.(*unstructured.UnstructuredList).Items)
	}
	return n
}

// writes lists the write actions the dynamic client and the applier received.
func (f *fakeCluster) writes() []string {
	var out []string
	for _, a := range f.dyn.Actions() {
		switch a.GetVerb() {
		case "create", "update", "delete", "patch":
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	for _, c := range f.ssa.calls {
		out = append(out, "apply "+c.gvr.Resource+" "+c.namespace+"/"+c.name)
	}
	return out
}

type ssaCall struct {
	gvr             schema.GroupVersionResource
	namespace, name string
	opts            metav1.PatchOptions
}

// fakeSSA stands in for server-side apply, which client-go's fakes do not implement for custom
// resources: it creates the object or replaces spec and merges labels/annotations, bumping the
// resourceVersion only on a real change.
type fakeSSA struct {
	f     *fakeCluster
	calls []ssaCall
	err   error // returned by every call when set
	// before, when set, runs first; an error it returns is the call's.
	before func(gvr schema.GroupVersionResource) error
}

func (s *fakeSSA) apply(_ context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, opts metav1.PatchOptions) (*unstructured.Unstructured, error) {
	s.calls = append(s.calls, ssaCall{gvr: gvr, namespace: obj.GetNamespace(), name: obj.GetName(), opts: opts})
	if s.err != nil {
		return nil, s.err
	}
	if s.before != nil {
		if err := s.before(gvr); err != nil {
			return nil, err
		}
	}
	if opts.FieldManager == "" {
		return nil, apierrors.NewBadRequest("PATCH with apply requires a fieldManager")
	}
	dryRun := slices.Contains(opts.DryRun, metav1.DryRunAll)
	tr := s.f.dyn.Tracker()
	cur, err := tr.Get(gvr, obj.GetNamespace(), obj.GetName())
	if apierrors.IsNotFound(err) {
		out := obj.DeepCopy()
		s.f.stamp(out)
		if dryRun {
			return out, nil
		}
		return out, tr.Create(gvr, out, out.GetNamespace())
	}
	if err != nil {
		return nil, err
	}
	live := cur.(*unstructured.Unstructured)
	out := live.DeepCopy()
	out.Object["spec"] = obj.DeepCopy().Object["spec"]
	lbl := out.GetLabels()
	if lbl == nil {
		lbl = map[string]string{}
	}
	maps.Copy(lbl, obj.GetLabels())
	out.SetLabels(lbl)
	if len(obj.GetAnnotations()) > 0 {
		ann := out.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		maps.Copy(ann, obj.GetAnnotations())
		out.SetAnnotations(ann)
	}
	if sameContent(live, out) {
		return out, nil
	}
	s.f.stamp(out)
	if dryRun {
		return out, nil
	}
	return out, tr.Update(gvr, out, out.GetNamespace())
}

func actionsOf(ch change.Changes) map[string]change.Action {
	out := map[string]change.Action{}
	for _, c := range ch {
		out[c.Kind+" "+c.Namespace+"/"+c.Name] = c.Action
	}
	return out
}
