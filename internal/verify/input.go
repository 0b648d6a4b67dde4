package verify

import (
	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/inventory"
)

// Decoder decodes the values of the four cart topics. internal/records'
// Codec implements it; it must be safe for use from one goroutine at a time
// (Read calls it from its own goroutine only).
type Decoder interface {
	DecodeRequest(value []byte) (cart.Command, error)
	DecodeValidated(value []byte) (cart.Event, error)
	DecodeInvalid(value []byte) (cart.InvalidRequest, error)
	DecodeSnapshot(value []byte) (cart.Snapshot, error)
	DecodeOrder(value []byte) (cart.OrderPlaced, error)
}

// Position is where a record sits in its topic.
type Position struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// Request is one record of cart.requests. Command is nil and DecodeErr set
// when the value did not decode; such a record, like one whose key differs
// from its command's cart id or hashes to another partition than its own,
// is MALFORMED for the write side.
type Request struct {
	Position
	Key       string
	Command   cart.Command
	DecodeErr error
}

// Validated is one record of cart.validated; Event is nil and DecodeErr set
// when the value did not decode.
type Validated struct {
	Position
	Key       string
	Event     cart.Event
	DecodeErr error
}

// Invalid is one record of cart.invalid; DecodeErr is set when the value did
// not decode.
type Invalid struct {
	Position
	Key       string
	Invalid   cart.InvalidRequest
	DecodeErr error
}

// State is one record of cart.state. Tombstone is true for a record with a
// nil value (the key's snapshot deleted); DecodeErr is set when the value did
// not decode.
type State struct {
	Position
	Key       string
	Snapshot  cart.Snapshot
	Tombstone bool
	DecodeErr error
}

// Order is one record of the orders topic; DecodeErr is set when the value
// did not decode. Its partition is the orders topic's own (orders are keyed
// by order id, not co-partitioned with carts).
type Order struct {
	Position
	Key       string
	Order     cart.OrderPlaced
	DecodeErr error
}

// Input is everything Check looks at: the decoded records of the four cart
// topics. Within a topic the records may come in any order; Check orders
// them by partition and offset.
type Input struct {
	// Topics names the topics in violations; zero means topics.DefaultSet.
	Topics topics.Set
	// Partitions is how many partitions the cart topics have: a request
	// that does not sit in the partition its key hashes to is MALFORMED
	// for the write side. Zero means unknown (not checked).
	Partitions int
	Requests   []Request
	Validated  []Validated
	Invalid    []Invalid
	State      []State
	// Orders are the orders topic's records; OrdersRead says that topic
	// was read (a topic set without one is verified without order checks).
	Orders     []Order
	OrdersRead bool
	// Answers are the reservation answers found on cart.requests;
	// Inventory and Stock the records of inventory.requests and
	// inventory.stock; InventoryRead says those topics were read.
	Answers       []Answer
	Inventory     []InventoryRecord
	Stock         []StockRecord
	InventoryRead bool
	// Warnings are carried into the Report as they are: what the reader
	// noticed that limits the verdict (e.g. a log truncated by retention).
	Warnings []string
}

// StockDecoder decodes the stock side's records; a Decoder that also
// implements it (internal/records' Codec does) lets Read tell reservation
// answers on cart.requests from requests and read the inventory topics.
type StockDecoder interface {
	IsAnswer(value []byte) bool
	DecodeAnswer(value []byte) (cart.ReservationAnswer, error)
	DecodeInventoryRequest(value []byte) (inventory.Request, error)
	DecodeStockLevel(value []byte) (inventory.Level, error)
}

// Answer is a reservation answer on cart.requests.
type Answer struct {
	Position
	Key       string
	Answer    cart.ReservationAnswer
	DecodeErr error
}

// InventoryRecord is one record of inventory.requests.
type InventoryRecord struct {
	Position
	Key       string
	Request   inventory.Request
	DecodeErr error
}

// StockRecord is one record of inventory.stock.
type StockRecord struct {
	Position
	Key       string
	Level     inventory.Level
	DecodeErr error
}
