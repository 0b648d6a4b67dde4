package records_test

import (
	"fmt"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/records"
)

// A command goes to cart.requests as a CartRequest; the manager decodes it
// back into the same command. A record of another type is refused.
func Example() {
	c, err := records.New(records.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	cmd := cart.AddItem{
		CartID: "cart-1", RequestID: "req-1", CustomerID: "cust-1",
		RequestedAt: time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC),
		SKU:         "apple", Quantity: 2,
	}
	value, err := c.EncodeRequest(cmd)
	if err != nil {
		fmt.Println(err)
		return
	}
	got, err := c.DecodeRequest(value)
	fmt.Printf("% x\n", value[:2])
	fmt.Println(got == cart.Command(cmd), got.EventType(), err)

	product, err := c.EncodeProduct(cart.Product{SKU: "apple", Name: "Apple", UnitPrice: cart.Money{Amount: 99, Currency: "EUR"}, Active: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = c.DecodeRequest(product)
	fmt.Println(records.IsMalformed(err), err)
	// Output:
	// c3 01
	// true AddItemRequest <nil>
	// true records: decode request: records: record of another type: cartstream.v1.Product, want cartstream.v1.CartRequest
}
