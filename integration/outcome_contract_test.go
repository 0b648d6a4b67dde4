package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// outcomeCase is one command of the wait_for_outcome contract and what
// AwaitOutcome must answer for it.
type outcomeCase struct {
	name string
	cmd  func(e *cartEnv, cartID string) cart.Command
	// accepted, or the rejection's reason; version is the cart's version
	// in the answer.
	accepted bool
	reason   cartv1.ReasonCode
	version  int64
}

// outcomeContract is the wait_for_outcome contract, in order on one cart:
// a first request, a retry of its request id (same command: the first
// outcome), a reuse of its id for another command (DUPLICATE_REQUEST), a
// rejected request, and another accepted one.
var outcomeContract = []outcomeCase{
	{name: "first request", accepted: true, version: 1,
		cmd: func(e *cartEnv, id string) cart.Command { return e.add(id, id+"-r1", "SKU-A", 1) }},
	{name: "retry of the same request id", accepted: true, version: 1,
		cmd: func(e *cartEnv, id string) cart.Command { return e.add(id, id+"-r1", "SKU-A", 1) }},
	{name: "request id reused for another command", reason: cartv1.ReasonCode_REASON_CODE_DUPLICATE_REQUEST, version: 1,
		cmd: func(e *cartEnv, id string) cart.Command { return e.add(id, id+"-r1", "SKU-B", 2) }},
	{name: "rejected request", reason: cartv1.ReasonCode_REASON_CODE_UNKNOWN_SKU, version: 1,
		cmd: func(e *cartEnv, id string) cart.Command { return e.add(id, id+"-r2", "SKU-NOPE", 1) }},
	{name: "second accepted request", accepted: true, version: 2,
		cmd: func(e *cartEnv, id string) cart.Command { return e.add(id, id+"-r3", "SKU-B", 1) }},
}

// runOutcomeContract sends the contract's commands to cart.requests, as a
// gateway does, and checks what outcomes answers for each. It returns the
// answers, for comparing implementations.
func runOutcomeContract(t *testing.T, e *cartEnv, outcomes gateway.Outcomes, cartID string) []*cartv1.CommandOutcome {
	t.Helper()
	var got []*cartv1.CommandOutcome
	for _, c := range outcomeContract {
		cmd := c.cmd(e, cartID)
		pos := e.send(t, cmd)[0]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := outcomes.AwaitOutcome(ctx, gateway.OutcomeQuery{
			CartID: cmd.Meta().CartID, RequestID: cmd.Meta().RequestID, Fingerprint: cart.FingerprintOf(cmd),
			Position: gateway.Position{Partition: pos.Partition, Offset: int64(pos.Offset)},
		})
		cancel()
		if err := c.check(out, err, cartID); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		got = append(got, out)
	}
	return got
}

func (c outcomeCase) check(out *cartv1.CommandOutcome, err error, cartID string) error {
	switch {
	case err != nil:
		return fmt.Errorf("AwaitOutcome: %w", err)
	case out == nil:
		return fmt.Errorf("no outcome")
	case out.GetAccepted() != c.accepted || out.GetRejection().GetReason() != c.reason:
		return fmt.Errorf("outcome accepted=%t rejection=%v, want accepted=%t reason=%v", out.GetAccepted(), out.GetRejection(), c.accepted, c.reason)
	case out.GetCart().GetCartId() != cartID || out.GetCart().GetVersion() != c.version:
		return fmt.Errorf("outcome's cart %s at version %d, want %s at %d", out.GetCart().GetCartId(), out.GetCart().GetVersion(), cartID, c.version)
	}
	return nil
}

// One wait_for_outcome contract, run against the projection in the
// gateway's process (projection.Server) and a remote one over gRPC
// (projection.Remote): both answer every case, retries and reused request
// ids included, and answer it the same way.
//
// Regression: projection.Remote answered a retry with no outcome and a
// reused request id with no outcome instead of DUPLICATE_REQUEST.
func TestOutcomeContractInProcessAndRemote(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	proj := e.startProjection(t)
	proj.waitServing(t, time.Minute)

	impls := []struct {
		name     string
		outcomes gateway.Outcomes
	}{
		{"in-process", projection.NewServer(proj.p)},
		{"remote", projection.NewRemote(proj.conn)},
	}
	answers := map[string][]*cartv1.CommandOutcome{}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			answers[impl.name] = runOutcomeContract(t, e, impl.outcomes, "contract-"+impl.name)
		})
	}
	in, remote := answers["in-process"], answers["remote"]
	for i := range min(len(in), len(remote)) {
		a, b := in[i], remote[i]
		if a.GetAccepted() != b.GetAccepted() || a.GetRejection().GetReason() != b.GetRejection().GetReason() ||
			a.GetRejection().GetMessage() != b.GetRejection().GetMessage() || a.GetCart().GetVersion() != b.GetCart().GetVersion() {
			t.Errorf("%s: in-process %v, remote %v", outcomeContract[i].name, a, b)
		}
	}
}
