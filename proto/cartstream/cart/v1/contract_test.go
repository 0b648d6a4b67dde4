package cartv1_test

import (
	"github.com/cartstream/cartstream/cart"
	"regexp"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

const pkg protoreflect.FullName = "cartstream.cart.v1"

// httpRoute is the HTTP/JSON binding a storefront relies on.
type httpRoute struct {
	verb, path, body string
}

// wantRoutes pins every RPC's HTTP binding. buf breaking does not look at
// options, so a changed path would otherwise break browsers silently.
var wantRoutes = map[protoreflect.FullName]httpRoute{
	"cartstream.cart.v1.CartService.AddItem":                {"POST", "/v1/carts/{cart_id}/items", "*"},
	"cartstream.cart.v1.CartService.RemoveItem":             {"DELETE", "/v1/carts/{cart_id}/items/{sku}", ""},
	"cartstream.cart.v1.CartService.ChangeQuantity":         {"PATCH", "/v1/carts/{cart_id}/items/{sku}", "*"},
	"cartstream.cart.v1.CartService.Checkout":               {"POST", "/v1/carts/{cart_id}:checkout", "*"},
	"cartstream.cart.v1.CartService.GetCart":                {"GET", "/v1/carts/{cart_id}", ""},
	"cartstream.cart.v1.CartService.WatchCart":              {"GET", "/v1/carts/{cart_id}:watch", ""},
	"cartstream.cart.v1.CartService.GetCartHistory":         {"GET", "/v1/carts/{cart_id}/history", ""},
	"cartstream.cart.v1.CartService.ClearCart":              {"POST", "/v1/carts/{cart_id}:clear", "*"},
	"cartstream.cart.v1.CartService.MergeCarts":             {"POST", "/v1/carts/{cart_id}:merge", "*"},
	"cartstream.cart.v1.CartService.ListCarts":              {"GET", "/v1/customers/{customer_id}/carts", ""},
	"cartstream.cart.v1.CatalogService.ListProducts":        {"GET", "/v1/products", ""},
	"cartstream.cart.v1.CatalogService.GetProduct":          {"GET", "/v1/products/{sku}", ""},
	"cartstream.cart.v1.CatalogAdminService.UpsertProducts": {"PUT", "/v1/admin/products", "*"},
	"cartstream.cart.v1.CatalogAdminService.PatchProduct":   {"PATCH", "/v1/admin/products/{sku}", "*"},
	"cartstream.cart.v1.InventoryAdminService.GetStock":     {"GET", "/v1/admin/stock/{sku}", ""},
	"cartstream.cart.v1.InventoryAdminService.SetStock":     {"PUT", "/v1/admin/stock/{sku}", "*"},
	"cartstream.cart.v1.InventoryAdminService.AdjustStock":  {"POST", "/v1/admin/stock/{sku}:adjust", "*"},
}

// commands are the RPCs that append to cart.requests.
var commands = []protoreflect.FullName{
	"cartstream.cart.v1.CartService.AddItem",
	"cartstream.cart.v1.CartService.RemoveItem",
	"cartstream.cart.v1.CartService.ChangeQuantity",
	"cartstream.cart.v1.CartService.Checkout",
	"cartstream.cart.v1.CartService.ClearCart",
	"cartstream.cart.v1.CartService.MergeCarts",
}

// packageFiles returns the registered files of package cartstream.cart.v1.
func packageFiles(tb testing.TB) []protoreflect.FileDescriptor {
	tb.Helper()
	var files []protoreflect.FileDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage(pkg, func(fd protoreflect.FileDescriptor) bool {
		files = append(files, fd)
		return true
	})
	if len(files) == 0 {
		tb.Fatalf("no files registered for package %s", pkg)
	}
	return files
}

func methods(tb testing.TB) []protoreflect.MethodDescriptor {
	tb.Helper()
	var ms []protoreflect.MethodDescriptor
	for _, fd := range packageFiles(tb) {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				ms = append(ms, sd.Methods().Get(j))
			}
		}
	}
	return ms
}

func route(tb testing.TB, md protoreflect.MethodDescriptor) (httpRoute, bool) {
	tb.Helper()
	rule, ok := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	if !ok || rule == nil {
		return httpRoute{}, false
	}
	var r httpRoute
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		r = httpRoute{"GET", p.Get, rule.GetBody()}
	case *annotations.HttpRule_Post:
		r = httpRoute{"POST", p.Post, rule.GetBody()}
	case *annotations.HttpRule_Put:
		r = httpRoute{"PUT", p.Put, rule.GetBody()}
	case *annotations.HttpRule_Patch:
		r = httpRoute{"PATCH", p.Patch, rule.GetBody()}
	case *annotations.HttpRule_Delete:
		r = httpRoute{"DELETE", p.Delete, rule.GetBody()}
	default:
		return httpRoute{}, false
	}
	return r, true
}

func TestEveryRPCHasItsHTTPRoute(t *testing.T) {
	seen := map[protoreflect.FullName]bool{}
	for _, md := range methods(t) {
		seen[md.FullName()] = true
		got, ok := route(t, md)
		if !ok {
			t.Errorf("%s: no google.api.http annotation", md.FullName())
			continue
		}
		want, known := wantRoutes[md.FullName()]
		if !known {
			t.Errorf("%s: new RPC; add its route %+v to wantRoutes and docs/api.md", md.FullName(), got)
			continue
		}
		if got != want {
			t.Errorf("%s: route = %+v, want %+v", md.FullName(), got, want)
		}
	}
	for name := range wantRoutes {
		if !seen[name] {
			t.Errorf("%s: in wantRoutes but not in the descriptors", name)
		}
	}
}

var pathVar = regexp.MustCompile(`\{([a-z_.]+)\}`)

func TestRoutePathVariablesAreRequiredRequestFields(t *testing.T) {
	for _, md := range methods(t) {
		r, ok := route(t, md)
		if !ok {
			continue // reported by TestEveryRPCHasItsHTTPRoute
		}
		for _, m := range pathVar.FindAllStringSubmatch(r.path, -1) {
			fd := md.Input().Fields().ByName(protoreflect.Name(m[1]))
			if fd == nil {
				t.Errorf("%s: path variable {%s} is no field of %s", md.FullName(), m[1], md.Input().FullName())
				continue
			}
			if !required(fd) {
				t.Errorf("%s: path variable {%s} is not marked REQUIRED", md.FullName(), m[1])
			}
		}
	}
}

func required(fd protoreflect.FieldDescriptor) bool {
	fb, _ := proto.GetExtension(fd.Options(), annotations.E_FieldBehavior).([]annotations.FieldBehavior)
	return slices.Contains(fb, annotations.FieldBehavior_REQUIRED)
}

func TestReasonCodesAreTheDomainsClosedSet(t *testing.T) {
	// The proto mirrors the domain's closed set of reasons, name for name.
	want := []string{"REASON_CODE_UNSPECIFIED"}
	for _, r := range cart.Reasons() {
		want = append(want, "REASON_CODE_"+r.String())
	}
	ed := cartv1.ReasonCode(0).Descriptor()
	var got []string
	for i := range ed.Values().Len() {
		got = append(got, string(ed.Values().Get(i).Name()))
	}
	for _, name := range want {
		if ed.Values().ByName(protoreflect.Name(name)) == nil {
			t.Errorf("ReasonCode lacks %s", name)
		}
	}
	for _, name := range got {
		if !slices.Contains(want, name) {
			t.Errorf("ReasonCode has %s, unknown to this test: add it here and in docs/api.md", name)
		}
	}
	if v := ed.Values().ByNumber(0); v == nil || v.Name() != "REASON_CODE_UNSPECIFIED" {
		t.Errorf("ReasonCode 0 = %v, want REASON_CODE_UNSPECIFIED", v)
	}
}

func TestCommandsCarryIdempotencyKeyAndReturnToken(t *testing.T) {
	for _, name := range commands {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		md := d.(protoreflect.MethodDescriptor)
		in, out := md.Input().Fields(), md.Output().Fields()
		for _, f := range []protoreflect.Name{"cart_id", "request_id"} {
			if fd := in.ByName(f); fd == nil || fd.Kind() != protoreflect.StringKind || !required(fd) {
				t.Errorf("%s: request needs a REQUIRED string %s", name, f)
			}
		}
		if fd := in.ByName("wait_for_outcome"); fd == nil || fd.Kind() != protoreflect.BoolKind {
			t.Errorf("%s: request needs bool wait_for_outcome", name)
		}
		if fd := out.ByName("consistency_token"); fd == nil || fd.Message() == nil ||
			fd.Message().FullName() != pkg+".ConsistencyToken" {
			t.Errorf("%s: response needs ConsistencyToken consistency_token", name)
		}
		if fd := out.ByName("outcome"); fd == nil || fd.Message() == nil ||
			fd.Message().FullName() != pkg+".CommandOutcome" {
			t.Errorf("%s: response needs CommandOutcome outcome", name)
		}
	}
}

// Money is integer minor units: no float or double anywhere in the API.
func TestNoFloatingPointFields(t *testing.T) {
	var walk func(protoreflect.MessageDescriptors)
	walk = func(mds protoreflect.MessageDescriptors) {
		for i := range mds.Len() {
			md := mds.Get(i)
			for j := range md.Fields().Len() {
				fd := md.Fields().Get(j)
				if k := fd.Kind(); k == protoreflect.FloatKind || k == protoreflect.DoubleKind {
					t.Errorf("%s is a %s", fd.FullName(), k)
				}
			}
			walk(md.Messages())
		}
	}
	for _, fd := range packageFiles(t) {
		walk(fd.Messages())
	}
}
