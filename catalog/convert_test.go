package catalog

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// Every product of the demo survives the API round trip unchanged.
func TestProductRoundTrip(t *testing.T) {
	products, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range products {
		pb := ToPB(p)
		if back := FromPB(pb); back != p {
			t.Errorf("%s: round trip gave %+v, want %+v", p.SKU, back, p)
		}
		if !proto.Equal(ToPB(FromPB(pb)), pb) {
			t.Errorf("%s: the API form changed on the round trip", p.SKU)
		}
	}
}
