package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cartstream/cartstream/internal/service"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

const cartHelp = `
Usage: cartctl cart get|history|watch ID [flags]

Inspects one cart through the query API (CartService at --addr):

  get       the cart as the read side has it now; with --token P:O, after
            waiting (up to --timeout) until the read side has seen the
            command at that position of cart.requests, and its outcome;
  history   every accepted event and rejection of the cart, oldest first
            (all pages, or --limit entries);
  watch     the cart now, then each new version until it is checked out or
            Ctrl-C.

Exit 1 when the cart does not exist (NOT_FOUND), 2 on any other error.

Examples:
  cartctl cart get cart-42
  cartctl cart history cart-42 -o json
  cartctl cart watch cart-42
`

type cartFlags struct {
	addr    string
	output  string
	timeout time.Duration
	token   string
	limit   int
	page    int
	log     service.LogFlags
}

func runCart(e env, args []string) int {
	var f cartFlags
	fs := newFlagSet(e, "cart", cartHelp)
	fs.StringVar(&f.addr, "addr", service.Env("CARTSTREAM_QUERY_ADDR", "127.0.0.1:50051"), "query API (CartService) address (env CARTSTREAM_QUERY_ADDR)")
	fs.StringVar(&f.output, "o", "table", "output format: table or json")
	fs.StringVar(&f.output, "output", "table", "output format: table or json (same as -o)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "deadline of get and of each history page (watch runs until the end)")
	fs.StringVar(&f.token, "token", "", "get: consistency token PARTITION:OFFSET to wait for")
	fs.IntVar(&f.limit, "limit", 0, "history: at most this many entries (0: all)")
	fs.IntVar(&f.page, "page-size", 100, "history: entries per request (1..500)")
	f.log.Register(fs)
	pos, code, ok := parse(e, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 2 {
		fmt.Fprintln(e.stderr, "cartctl cart: want get, history or watch and a cart id (cartctl cart --help)")
		return exitOperational
	}
	if f.output != "table" && f.output != "json" {
		fmt.Fprintf(e.stderr, "cartctl cart: -o %q: want table or json\n", f.output)
		return exitOperational
	}
	log, err := f.log.Logger(e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl cart: %v\n", err)
		return exitOperational
	}
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl cart: %s: %v\n", f.addr, err)
		return exitOperational
	}
	defer conn.Close()
	client := cartv1.NewCartServiceClient(conn)
	ctx, cancel := signalContext(e, log)
	defer cancel()
	sub, id := pos[0], pos[1]
	switch sub {
	case "get":
		err = f.get(ctx, e, client, id)
	case "history":
		err = f.history(ctx, e, client, id)
	case "watch":
		err = f.watch(ctx, e, client, id)
	default:
		fmt.Fprintf(e.stderr, "cartctl cart: unknown subcommand %q: want get, history or watch\n", sub)
		return exitOperational
	}
	switch {
	case err == nil:
		return exitOK
	case status.Code(err) == codes.NotFound:
		fmt.Fprintf(e.stderr, "cartctl cart %s: cart %s not found\n", sub, id)
		return exitFindings
	default:
		fmt.Fprintf(e.stderr, "cartctl cart %s %s: %v\n", sub, id, err)
		return exitOperational
	}
}

func (f *cartFlags) get(ctx context.Context, e env, c cartv1.CartServiceClient, id string) error {
	req := &cartv1.GetCartRequest{CartId: id}
	if f.token != "" {
		var p int32
		var o int64
		if n, err := fmt.Sscanf(f.token, "%d:%d", &p, &o); err != nil || n != 2 {
			return fmt.Errorf("--token %q: want PARTITION:OFFSET", f.token)
		}
		req.ConsistencyToken = &cartv1.ConsistencyToken{Partition: p, Offset: o}
	}
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	resp, err := c.GetCart(cctx, req)
	if err != nil {
		return err
	}
	if f.output == "json" {
		return writeProto(e.stdout, resp, true)
	}
	writeCart(e.stdout, resp.GetCart())
	if o := resp.GetRequestOutcome(); o != nil {
		fmt.Fprintf(e.stdout, "request %s: %s\n", o.GetRequestId(), outcomeText(o.GetAccepted(), o.GetRejection()))
	}
	return nil
}

func (f *cartFlags) history(ctx context.Context, e env, c cartv1.CartServiceClient, id string) error {
	var entries []*cartv1.HistoryEntry
	token := ""
	for {
		size := int32(f.page)
		if f.limit > 0 {
			size = int32(min(f.page, f.limit-len(entries)))
		}
		cctx, cancel := context.WithTimeout(ctx, f.timeout)
		resp, err := c.GetCartHistory(cctx, &cartv1.GetCartHistoryRequest{CartId: id, PageSize: size, PageToken: token})
		cancel()
		if err != nil {
			return err
		}
		entries = append(entries, resp.GetEntries()...)
		token = resp.GetNextPageToken()
		if token == "" || (f.limit > 0 && len(entries) >= f.limit) {
			break
		}
	}
	if f.output == "json" {
		return writeProto(e.stdout, &cartv1.GetCartHistoryResponse{Entries: entries}, true)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tREQUEST\tREQUEST AT\tEVENT\tVERSION\tRECORD\tDETAIL")
	for i, h := range entries {
		rp := h.GetRecordPosition()
		rt := "-"
		if h.GetRequestTime() != nil {
			rt = h.GetRequestTime().AsTime().UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s/%d@%d\t%s\n", i+1, h.GetRequestId(), rt, h.GetEventType(), h.GetCartVersion(),
			rp.GetTopic(), rp.GetPartition(), rp.GetOffset(), historyDetail(h))
	}
	_ = tw.Flush()
	fmt.Fprintf(e.stdout, "%d entries\n", len(entries))
	return nil
}

func (f *cartFlags) watch(ctx context.Context, e env, c cartv1.CartServiceClient, id string) error {
	stream, err := c.WatchCart(ctx, &cartv1.WatchCartRequest{CartId: id})
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil // the server ends the stream after a checkout
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C: the operator is done watching
			}
			return err
		}
		if f.output == "json" {
			if err := writeProto(e.stdout, msg, false); err != nil {
				return err
			}
			continue
		}
		cc := msg.GetCart()
		fmt.Fprintf(e.stdout, "%s version %d %s: %d items, subtotal %s, lines %s\n", time.Now().UTC().Format(time.RFC3339),
			cc.GetVersion(), statusText(cc.GetStatus()), cc.GetItemCount(), protoMoney(cc.GetSubtotal()), protoLines(cc.GetLines()))
	}
}

func writeProto(w io.Writer, m proto.Message, multiline bool) error {
	b, err := protojson.MarshalOptions{Multiline: multiline, UseProtoNames: true, EmitUnpopulated: false}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func writeCart(w io.Writer, c *cartv1.Cart) {
	fmt.Fprintf(w, "cart %s  status %s  customer %s  version %d  items %d  subtotal %s\n", c.GetCartId(), statusText(c.GetStatus()),
		orDash(c.GetCustomerId()), c.GetVersion(), c.GetItemCount(), protoMoney(c.GetSubtotal()))
	if len(c.GetLines()) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SKU\tNAME\tQUANTITY\tUNIT PRICE\tLINE TOTAL")
	for _, l := range c.GetLines() {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", l.GetSku(), l.GetName(), l.GetQuantity(), protoMoney(l.GetUnitPrice()), protoMoney(l.GetLineTotal()))
	}
	_ = tw.Flush()
}

func statusText(s cartv1.CartStatus) string {
	return strings.TrimPrefix(s.String(), "CART_STATUS_")
}

func protoMoney(m *cartv1.Money) string {
	if m == nil {
		return "0"
	}
	if m.GetCurrencyCode() == "" {
		return fmt.Sprint(m.GetAmountMinor())
	}
	return fmt.Sprintf("%d %s", m.GetAmountMinor(), m.GetCurrencyCode())
}

func protoLines(ls []*cartv1.CartLine) string {
	if len(ls) == 0 {
		return "-"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s x%d", l.GetSku(), l.GetQuantity())
	}
	return strings.Join(parts, ", ")
}

func outcomeText(accepted bool, r *cartv1.Rejection) string {
	if accepted {
		return "accepted"
	}
	return fmt.Sprintf("rejected %s: %s", strings.TrimPrefix(r.GetReason().String(), "REASON_CODE_"), r.GetMessage())
}

func historyDetail(h *cartv1.HistoryEntry) string {
	switch d := h.GetDetail().(type) {
	case *cartv1.HistoryEntry_ItemAdded:
		return fmt.Sprintf("added %s x%d at %s", d.ItemAdded.GetSku(), d.ItemAdded.GetQuantity(), protoMoney(d.ItemAdded.GetUnitPrice()))
	case *cartv1.HistoryEntry_ItemRemoved:
		return "removed " + d.ItemRemoved.GetSku()
	case *cartv1.HistoryEntry_QuantityChanged:
		return fmt.Sprintf("%s quantity %d", d.QuantityChanged.GetSku(), d.QuantityChanged.GetQuantity())
	case *cartv1.HistoryEntry_CheckedOut:
		return fmt.Sprintf("checked out by %s: %d items, %s", d.CheckedOut.GetCustomerId(), d.CheckedOut.GetItemCount(), protoMoney(d.CheckedOut.GetSubtotal()))
	case *cartv1.HistoryEntry_Rejected:
		return outcomeText(false, d.Rejected)
	default:
		return "-"
	}
}
