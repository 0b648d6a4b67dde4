package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/internal/service"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

const stockHelp = `
Usage: cartctl stock get SKU | set SKU UNITS | adjust SKU DELTA

Reads and changes stock levels through the gateway's InventoryAdminService
(at --admin-addr; with authentication on, --bearer must carry a token with
the operator role). A change is a request the inventory processor applies
in order with the checkouts' reservations; get shows it once applied.

  get SKU           the latest level: available, reserved (held by
                    checkouts in progress and sold), version
  set SKU UNITS     a stock count: UNITS available for sale
  adjust SKU DELTA  a restock (DELTA > 0) or correction (DELTA < 0);
                    refused by the processor if it would leave fewer than 0

An adjustment carries an adjustment id (--adjustment-id, default: one made
for this invocation, printed). cartctl retries a call that failed
UNAVAILABLE or timed out (--attempts) with the same id, and the processor
applies an id once, so a retry never adjusts twice. To retry by hand after
cartctl gave up, run it again with the id it printed.

Exit 1 when the SKU has no level (not tracked), 2 on any other error.

Examples:
  cartctl stock set SKU-A 12
  cartctl stock adjust SKU-A -- -2
  cartctl stock adjust --adjustment-id restock-0412 SKU-A 24
  cartctl stock get SKU-A
`

type stockFlags struct {
	catalogFlags
	requestID    string
	adjustmentID string
	attempts     int
}

func runStock(e env, args []string) int {
	var f stockFlags
	fs := newFlagSet(e, "stock", stockHelp)
	fs.StringVar(&f.adminAddr, "admin-addr", service.Env("CARTSTREAM_ADMIN_ADDR", "127.0.0.1:50051"), "gateway (InventoryAdminService) address (env CARTSTREAM_ADMIN_ADDR)")
	fs.StringVar(&f.bearer, "bearer", os.Getenv("CARTSTREAM_BEARER_TOKEN"), "bearer token with the operator role (env CARTSTREAM_BEARER_TOKEN)")
	fs.StringVar(&f.output, "o", "table", "output format of get: table or json")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "deadline of each call")
	fs.StringVar(&f.requestID, "request-id", "", "id of a set or adjust, for the logs (default: cartctl- and the time)")
	fs.StringVar(&f.adjustmentID, "adjustment-id", "", "id of an adjust, the same on every retry of it (default: made once per invocation)")
	fs.IntVar(&f.attempts, "attempts", 3, "calls of an adjust before giving up on UNAVAILABLE or a timeout (the same adjustment id each time)")
	f.log.Register(fs)
	pos, code, ok := parse(e, fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		fmt.Fprintln(e.stderr, "cartctl stock: want get, set or adjust (cartctl stock --help)")
		return exitOperational
	}
	log, err := f.log.Logger(e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl stock: %v\n", err)
		return exitOperational
	}
	ctx, cancel := signalContext(e, log)
	defer cancel()
	err = f.dispatch(ctx, e, pos)
	switch {
	case err == nil:
		return exitOK
	case status.Code(err) == codes.NotFound:
		fmt.Fprintf(e.stderr, "cartctl stock %s: %v\n", pos[0], status.Convert(err).Message())
		return exitFindings
	default:
		fmt.Fprintf(e.stderr, "cartctl stock %s: %v\n", pos[0], err)
		return exitOperational
	}
}

func (f *stockFlags) dispatch(ctx context.Context, e env, pos []string) error {
	want := map[string]int{"get": 2, "set": 3, "adjust": 3}
	n, known := want[pos[0]]
	switch {
	case !known:
		return fmt.Errorf("unknown subcommand: want get, set or adjust")
	case len(pos) != n:
		return fmt.Errorf("want %d argument(s) (cartctl stock --help)", n-1)
	}
	conn, err := f.dial(f.adminAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := cartv1.NewInventoryAdminServiceClient(conn)
	cctx, cancel := f.call(ctx)
	defer cancel()
	if pos[0] == "get" {
		resp, err := client.GetStock(cctx, &cartv1.GetStockRequest{Sku: pos[1]})
		if err != nil {
			return err
		}
		if f.output == "json" {
			return writeProto(e.stdout, resp.GetStock(), true)
		}
		s := resp.GetStock()
		fmt.Fprintf(e.stdout, "SKU\tAVAILABLE\tRESERVED\tVERSION\n%s\t%d\t%d\t%d\n", s.GetSku(), s.GetAvailable(), s.GetReserved(), s.GetVersion())
		return nil
	}
	units, err := strconv.ParseInt(pos[2], 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %q is not a whole number", pos[0], pos[2])
	}
	rid := f.requestID
	if rid == "" {
		rid = "cartctl-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if pos[0] == "set" {
		resp, err := client.SetStock(cctx, &cartv1.SetStockRequest{Sku: pos[1], Available: units, RequestId: rid})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "recorded: set %s to %d available (inventory.requests partition %d offset %d)\n", pos[1], units, resp.GetPartition(), resp.GetOffset())
		return nil
	}
	aid := f.adjustmentID
	if aid == "" {
		aid = "cartctl-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	req := &cartv1.AdjustStockRequest{Sku: pos[1], Delta: units, RequestId: rid, AdjustmentId: aid}
	resp, err := f.adjust(ctx, client, req)
	if err != nil {
		return fmt.Errorf("adjustment %s (retry with --adjustment-id %s): %w", aid, aid, err)
	}
	fmt.Fprintf(e.stdout, "recorded: adjust %s by %+d, adjustment %s (inventory.requests partition %d offset %d)\n", pos[1], units, resp.GetAdjustmentId(), resp.GetPartition(), resp.GetOffset())
	return nil
}

// adjust calls AdjustStock up to --attempts times while the answer is
// lost (UNAVAILABLE, or the call's deadline passed), always with the same
// request: the adjustment id makes a retry of a change already recorded a
// no-op in the processor.
func (f *stockFlags) adjust(ctx context.Context, client cartv1.InventoryAdminServiceClient, req *cartv1.AdjustStockRequest) (*cartv1.AdjustStockResponse, error) {
	for attempt := 1; ; attempt++ {
		cctx, cancel := f.call(ctx)
		resp, err := client.AdjustStock(cctx, req)
		cancel()
		code := status.Code(err)
		if err == nil || attempt >= f.attempts || ctx.Err() != nil || (code != codes.Unavailable && code != codes.DeadlineExceeded) {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
		}
	}
}
