package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/catalog"
	"github.com/cartstream/cartstream/internal/service"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

const catalogHelp = `
Usage: cartctl catalog get SKU | export | import FILE | set SKU [flags]

Reads the catalog through the query API (CatalogService at --addr) and
changes it through the gateway's admin API (CatalogAdminService at
--admin-addr; with authentication on, --bearer must carry a token with the
operator role). The managers and the read side pick changes up live.

  get SKU      one product (active or not)
  export       every product, as a catalog file (the JSON of a
               ListProductsResponse; what cartstream -catalog and import read)
  import FILE  writes every product of a catalog file, checked first with
               the managers' rules (nothing is written if one is invalid),
               in batches of 500
  set SKU      changes a product: --price-minor N [--currency EUR],
               --active=true|false, --max-per-line N

Exit 1 when the product does not exist, 2 on any other error.

Examples:
  cartctl catalog export > catalog.json
  cartctl catalog import catalog.json
  cartctl catalog set SKU-A --price-minor 2499
  cartctl catalog set SKU-B --active=false
`

type catalogFlags struct {
	addr, adminAddr, bearer, output string
	timeout                         time.Duration
	priceMinor                      int64
	currency                        string
	active                          string
	maxPerLine                      int
	log                             service.LogFlags
}

func runCatalog(e env, args []string) int {
	var f catalogFlags
	fs := newFlagSet(e, "catalog", catalogHelp)
	fs.StringVar(&f.addr, "addr", service.Env("CARTSTREAM_QUERY_ADDR", "127.0.0.1:50051"), "query API (CatalogService) address (env CARTSTREAM_QUERY_ADDR)")
	fs.StringVar(&f.adminAddr, "admin-addr", service.Env("CARTSTREAM_ADMIN_ADDR", "127.0.0.1:50051"), "gateway (CatalogAdminService) address (env CARTSTREAM_ADMIN_ADDR)")
	fs.StringVar(&f.bearer, "bearer", os.Getenv("CARTSTREAM_BEARER_TOKEN"), "bearer token with the operator role for import and set (env CARTSTREAM_BEARER_TOKEN)")
	fs.StringVar(&f.output, "o", "table", "output format of get: table or json")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "deadline of each call")
	fs.Int64Var(&f.priceMinor, "price-minor", -1, "set: new price in minor units (cents)")
	fs.StringVar(&f.currency, "currency", "", "set: currency of --price-minor (default: the product's)")
	fs.StringVar(&f.active, "active", "", "set: true or false")
	fs.IntVar(&f.maxPerLine, "max-per-line", -1, "set: largest quantity of one cart line (0: the default)")
	f.log.Register(fs)
	pos, code, ok := parse(e, fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		fmt.Fprintln(e.stderr, "cartctl catalog: want get, export, import or set (cartctl catalog --help)")
		return exitOperational
	}
	log, err := f.log.Logger(e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "cartctl catalog: %v\n", err)
		return exitOperational
	}
	ctx, cancel := signalContext(e, log)
	defer cancel()
	err = f.dispatch(ctx, e, pos)
	switch {
	case err == nil:
		return exitOK
	case status.Code(err) == codes.NotFound:
		fmt.Fprintf(e.stderr, "cartctl catalog %s: %v\n", pos[0], status.Convert(err).Message())
		return exitFindings
	default:
		fmt.Fprintf(e.stderr, "cartctl catalog %s: %v\n", pos[0], err)
		return exitOperational
	}
}

func (f *catalogFlags) dispatch(ctx context.Context, e env, pos []string) error {
	want := map[string]int{"get": 2, "export": 1, "import": 2, "set": 2}
	n, known := want[pos[0]]
	if !known {
		return fmt.Errorf("unknown subcommand: want get, export, import or set")
	}
	if len(pos) != n {
		return fmt.Errorf("want %d argument(s) (cartctl catalog --help)", n-1)
	}
	switch pos[0] {
	case "get":
		return f.get(ctx, e, pos[1])
	case "export":
		return f.export(ctx, e)
	case "import":
		return f.importFile(ctx, e, pos[1])
	default:
		return f.set(ctx, e, pos[1])
	}
}

func (f *catalogFlags) dial(addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return conn, nil
}

// call is ctx bounded by --timeout, with the bearer token when given.
func (f *catalogFlags) call(ctx context.Context) (context.Context, context.CancelFunc) {
	if f.bearer != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+f.bearer)
	}
	return context.WithTimeout(ctx, f.timeout)
}

func (f *catalogFlags) get(ctx context.Context, e env, sku string) error {
	conn, err := f.dial(f.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	cctx, cancel := f.call(ctx)
	defer cancel()
	resp, err := cartv1.NewCatalogServiceClient(conn).GetProduct(cctx, &cartv1.GetProductRequest{Sku: sku})
	if err != nil {
		return err
	}
	if f.output == "json" {
		return writeProto(e.stdout, resp.GetProduct(), true)
	}
	writeProducts(e, []*cartv1.Product{resp.GetProduct()})
	return nil
}

func (f *catalogFlags) export(ctx context.Context, e env) error {
	conn, err := f.dial(f.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := cartv1.NewCatalogServiceClient(conn)
	all := &cartv1.ListProductsResponse{}
	for token := ""; ; {
		cctx, cancel := f.call(ctx)
		resp, err := client.ListProducts(cctx, &cartv1.ListProductsRequest{PageSize: 500, PageToken: token, IncludeInactive: true})
		cancel()
		if err != nil {
			return err
		}
		all.Products = append(all.Products, resp.GetProducts()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	return writeProto(e.stdout, all, true)
}

func (f *catalogFlags) importFile(ctx context.Context, e env, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	// The file is checked whole first, with the same rules the server
	// applies, so a bad file writes nothing at all.
	products, err := catalog.Parse(data)
	if err != nil {
		return err
	}
	conn, err := f.dial(f.adminAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	admin := cartv1.NewCatalogAdminServiceClient(conn)
	written := 0
	for start := 0; start < len(products); start += 500 {
		batch := products[start:min(start+500, len(products))]
		req := &cartv1.UpsertProductsRequest{}
		for _, p := range batch {
			req.Products = append(req.Products, catalog.ToPB(p))
		}
		cctx, cancel := f.call(ctx)
		resp, err := admin.UpsertProducts(cctx, req)
		cancel()
		if err != nil {
			return fmt.Errorf("after %d of %d products: %w", written, len(products), err)
		}
		written += int(resp.GetWritten())
		fmt.Fprintf(e.stderr, "imported %d of %d products\n", written, len(products))
	}
	fmt.Fprintf(e.stdout, "DONE: wrote %d products to the catalog\n", written)
	return nil
}

func (f *catalogFlags) set(ctx context.Context, e env, sku string) error {
	req := &cartv1.PatchProductRequest{Sku: sku}
	if f.priceMinor >= 0 {
		req.UnitPrice = &cartv1.Money{AmountMinor: f.priceMinor, CurrencyCode: f.currency}
	}
	switch f.active {
	case "":
	case "true", "false":
		on := f.active == "true"
		req.Active = &on
	default:
		return fmt.Errorf("--active %q: want true or false", f.active)
	}
	if f.maxPerLine >= 0 {
		m := int32(f.maxPerLine)
		req.MaxQuantityPerLine = &m
	}
	if req.UnitPrice == nil && req.Active == nil && req.MaxQuantityPerLine == nil {
		return errors.New("nothing to change: give --price-minor, --active or --max-per-line")
	}
	conn, err := f.dial(f.adminAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if req.UnitPrice != nil && req.UnitPrice.CurrencyCode == "" {
		// Keep the product's currency: read it through the query API.
		cur, err := f.current(ctx, sku)
		if err != nil {
			return err
		}
		req.UnitPrice.CurrencyCode = cur.GetUnitPrice().GetCurrencyCode()
	}
	cctx, cancel := f.call(ctx)
	defer cancel()
	resp, err := cartv1.NewCatalogAdminServiceClient(conn).PatchProduct(cctx, req)
	if err != nil {
		return err
	}
	writeProducts(e, []*cartv1.Product{resp.GetProduct()})
	return nil
}

func (f *catalogFlags) current(ctx context.Context, sku string) (*cartv1.Product, error) {
	conn, err := f.dial(f.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cctx, cancel := f.call(ctx)
	defer cancel()
	resp, err := cartv1.NewCatalogServiceClient(conn).GetProduct(cctx, &cartv1.GetProductRequest{Sku: sku})
	if err != nil {
		return nil, err
	}
	return resp.GetProduct(), nil
}

func writeProducts(e env, ps []*cartv1.Product) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SKU\tNAME\tPRICE\tACTIVE\tMAX PER LINE")
	for _, p := range ps {
		m := p.GetUnitPrice()
		fmt.Fprintf(tw, "%s\t%s\t%d %s\t%v\t%d\n", p.GetSku(), p.GetName(), m.GetAmountMinor(), m.GetCurrencyCode(), p.GetActive(), p.GetMaxQuantityPerLine())
	}
	_ = tw.Flush()
}
