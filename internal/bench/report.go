package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteTable prints r as a table: scenario, metric, value, target, verdict.
func (r *Result) WriteTable(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }
	verdict := func(pass bool) string {
		if pass {
			return "ok"
		}
		return "MISSED"
	}
	m := r.Machine
	fmt.Fprintf(out, "cartstream bench %s (rev %s%s): %d x %s, %.1f GiB, %s, Kafka %s, librdkafka %s, load %s -> %s\n\n",
		r.RunID, r.Revision, map[bool]string{true: ", QUICK", false: ""}[r.Quick], m.NumCPU, m.CPUModel,
		float64(m.MemTotalKiB)/(1<<20), m.GoVersion, m.KafkaVersion, m.Librdkafka, m.LoadAvgStart, m.LoadAvgEnd)
	if len(r.Config.ClientProps) > 0 {
		fmt.Fprintf(out, "EXPERIMENT: extra client properties %v\n\n", r.Config.ClientProps)
	}
	row("SCENARIO", "METRIC", "VALUE", "TARGET", "")
	if d := r.Drain; d != nil {
		row("drain", fmt.Sprintf("copy loop (baseline), %d records", d.Commands), fmt.Sprintf("%.0f rec/s (%.1f s; steady %.0f/s)", d.Copy.Rate, d.Copy.Seconds, d.Copy.SteadyRate), "", "")
		row("drain", fmt.Sprintf("manager, %d cmds / %d carts", d.Commands, d.Carts), fmt.Sprintf("%.0f cmd/s (%.1f s; steady %.0f/s)", d.Manager.Rate, d.Manager.Seconds, d.Manager.SteadyRate), "", "")
		row("drain", "manager / copy loop", fmt.Sprintf("%.1f%% (steady %.1f%%)", 100*d.Ratio, 100*d.SteadyRatio), fmt.Sprintf(">= %.0f%%", 100*d.Target), verdict(d.Pass && d.Error == ""))
		row("drain", "transactions, mean batch (copy | manager)", fmt.Sprintf("%d, %.0f | %d, %.0f", d.Copy.Transactions, d.Copy.MeanBatch, d.Manager.Transactions, d.Manager.MeanBatch), "", "")
		row("drain", "mean commit ms (copy | manager)", fmt.Sprintf("%.1f | %.1f", d.Copy.MeanCommitMs, d.Manager.MeanCommitMs), "", "")
		row("drain", "output offsets, MiB on disk (copy | manager)", fmt.Sprintf("%d, %.1f | %d, %.1f", d.Copy.OutputOffsets, mib(d.Copy.OutputBytes), d.Manager.OutputOffsets, mib(d.Manager.OutputBytes)), "", "")
		row("drain", "CPU s bench+broker, share of cores (copy | manager)", fmt.Sprintf("%.1f+%.1f, %.0f%% | %.1f+%.1f, %.0f%%",
			d.Copy.CPU.BenchCPU, d.Copy.CPU.BrokerCPU, 100*d.Copy.CPU.MachineShare, d.Manager.CPU.BenchCPU, d.Manager.CPU.BrokerCPU, 100*d.Manager.CPU.MachineShare), "", "")
		errRow(row, "drain", d.Error)
	}
	if e := r.E2E; e != nil {
		l := e.Latency
		row("e2e", fmt.Sprintf("outcome latency p50/p99/p99.9/max @ %d/s", l.Rate), fmt.Sprintf("%.1f / %.1f / %.1f / %.1f ms", l.Outcome.P50, l.Outcome.P99, l.Outcome.P999, l.Outcome.Max),
			fmt.Sprintf("p99 <= %.0f ms", l.TargetP99), verdict(l.Pass && e.Error == ""))
		row("e2e", "gRPC ack p50/p99 (broker acks=all)", fmt.Sprintf("%.1f / %.1f ms", l.Ack.P50, l.Ack.P99), "", "")
		row("e2e", "sent, failed, missing outcomes", fmt.Sprintf("%d, %d, %d", l.Sent, l.Failed, l.Missing), "", "")
		s := e.Saturation
		row("e2e", fmt.Sprintf("saturation, %d clients: accepted", s.Clients), fmt.Sprintf("%.0f cmd/s (ack p50 %.1f ms, p99 %.1f ms)", s.AcceptedRate, s.Ack.P50, s.Ack.P99), "", "")
		row("e2e", "saturation: outcome committed in window", fmt.Sprintf("%.0f cmd/s (backlog drained %.1f s after; outcome p99 %.0f ms)", s.CommittedRate, s.BacklogSecs, s.Outcome.P99), "", "")
		row("e2e", "manager transactions, mean / max commit", fmt.Sprintf("%d, %.1f / %.1f ms", e.ManagerCommits, e.ManagerMeanCommit, e.ManagerMaxCommit), "", "")
		for _, run := range e.Sweep {
			target := ""
			if run.TargetP99 > 0 {
				target = fmt.Sprintf("p99 <= %.0f ms", run.TargetP99)
			}
			row("e2e", fmt.Sprintf("sweep @ %d/s: outcome p50/p99/p99.9", run.Rate), fmt.Sprintf("%.1f / %.1f / %.1f ms; %.0f txn/s x %.1f, %.2f retries/txn, broker %.2f CPU-s/s",
				run.Outcome.P50, run.Outcome.P99, run.Outcome.P999, run.Stages.TxnPerSec, run.Stages.MeanBatch, run.Stages.RetriesPerTxn, run.Stages.BrokerCPUPerSecond), target, verdict(run.Pass))
		}
		stageRows(row, "e2e", e.Latency)
		errRow(row, "e2e", e.Error)
	}
	if rb := r.Rebuild; rb != nil {
		row("rebuild", fmt.Sprintf("raw read_committed read (baseline), %d snapshots, %.1f MiB", rb.Records, mib(rb.Bytes)),
			fmt.Sprintf("%.0f rec/s, %.1f MiB/s (%.2f s)", rb.Raw.CartsPerS, rb.Raw.MiBPerS, rb.Raw.Seconds), "", "")
		row("rebuild", "projection New + Run until Ready", fmt.Sprintf("%.0f carts/s, %.1f MiB/s (%.2f s)", rb.Projection.CartsPerS, rb.Projection.MiBPerS, rb.Projection.Seconds), "", "")
		row("rebuild", "projection / raw read", fmt.Sprintf("%.1f%%", 100*rb.Ratio), fmt.Sprintf(">= %.0f%%", 100*rb.Target), verdict(rb.Pass && rb.Error == ""))
		row("rebuild", "CPU s bench+broker (raw | projection)", fmt.Sprintf("%.1f+%.1f | %.1f+%.1f", rb.Raw.CPU.BenchCPU, rb.Raw.CPU.BrokerCPU, rb.Projection.CPU.BenchCPU, rb.Projection.CPU.BrokerCPU), "", "")
		row("rebuild", "cart-projection process: exec -> ready", fmt.Sprintf("%.2f s", rb.ProcessRebuildSeconds), "", "")
		row("rebuild", "cart-projection RSS idle / loaded / high water", fmt.Sprintf("%.1f / %.1f / %.1f MiB", kib(rb.IdleRSS), kib(rb.LoadedRSS), kib(rb.LoadedHWM)), "", "")
		row("rebuild", fmt.Sprintf("RSS per cart above idle, %d carts", rb.Carts), fmt.Sprintf("%.2f KiB (live heap %s -> %.0f MiB, %.2f KiB/cart)", rb.KiBPerCart, heapStr(rb.IdleHeapMiB), rb.LoadedHeapMiB, rb.HeapKiBPerCart), "", "")
		if w := rb.Warm; w != nil {
			row("rebuild", fmt.Sprintf("warm restart from the checkpoint, %d carts (cold with checkpoint; shutdown write; file)", w.Carts),
				fmt.Sprintf("%.2f s, %.1fx the cold rebuild (%.2f s; %.2f s; %.1f MiB)", w.WarmSeconds, w.Speedup, w.ColdSeconds, w.ShutdownSeconds, mib(w.FileBytes)), "", "")
		}
		errRow(row, "rebuild", rb.Error)
	}
	if g := r.GetCart; g != nil {
		row("getcart", "1 client p50/p99/p99.9/max", fmt.Sprintf("%.2f / %.2f / %.2f / %.2f ms (%.0f calls/s)", g.Serial.P50, g.Serial.P99, g.Serial.P999, g.Serial.Max, g.SerialRate), "", "")
		row("getcart", fmt.Sprintf("%d clients p50/p99/p99.9/max, %d carts", g.Clients, g.Carts), fmt.Sprintf("%.2f / %.2f / %.2f / %.2f ms", g.Latency.P50, g.Latency.P99, g.Latency.P999, g.Latency.Max),
			fmt.Sprintf("p99 <= %.0f ms", g.TargetP99), verdict(g.Pass && g.Error == ""))
		row("getcart", "calls/s, errors; CPU s projection | clients", fmt.Sprintf("%.0f, %d; %.1f | %.1f in %.0f s", g.Rate, g.Errors, g.ProjectionCPU, g.ClientCPU, g.Seconds), "", "")
		errRow(row, "getcart", g.Error)
	}
	if w := r.Wait; w != nil {
		row("wait", fmt.Sprintf("wait_for_outcome call p50/p99/p99.9/max @ %d/s", w.Rate), fmt.Sprintf("%.1f / %.1f / %.1f / %.1f ms", w.Latency.P50, w.Latency.P99, w.Latency.P999, w.Latency.Max),
			fmt.Sprintf("p99 <= %.0f ms", w.TargetP99), verdict(w.Pass && w.Error == ""))
		row("wait", "outcome visible (watcher) p50/p99; then to the answer p50/p99", fmt.Sprintf("%.1f / %.1f ms; %.1f / %.1f ms", w.Visible.P50, w.Visible.P99, w.AfterVisible.P50, w.AfterVisible.P99), "", "")
		row("wait", "sent, accepted, rejected, no outcome, failed", fmt.Sprintf("%d, %d, %d, %d, %d", w.Sent, w.Accepted, w.Rejected, w.NoOutcome, w.Failed), "", "")
		row("wait", "manager transactions, mean / max commit", fmt.Sprintf("%d, %.1f / %.1f ms", w.ManagerCommits, w.ManagerMeanCommit, w.ManagerMaxCommit), "", "")
		row("wait", "transactions/s x mean batch, retries/txn, broker CPU-s/s", fmt.Sprintf("%.0f x %.1f, %.2f, %.2f", w.Stages.TxnPerSec, w.Stages.MeanBatch, w.Stages.RetriesPerTxn, w.CPU.BrokerCPU/max(w.CPU.WallSeconds, 1e-9)), "", "")
		stageRows(row, "wait", LatencyRun{Rate: w.Rate, Stages: w.Stages})
		errRow(row, "wait", w.Error)
	}
	if rp := r.Replay; rp != nil {
		b := rp.Bench
		row("replay", fmt.Sprintf("raw read_committed read (baseline), %d events", b.Records), fmt.Sprintf("%.0f events/s (%.2f s)", b.RawRate, b.Raw.Seconds()), "", "")
		row("replay", fmt.Sprintf("replay fold, %d carts, %d workers", b.Carts, b.Workers), fmt.Sprintf("%.0f events/s (%.2f s)", b.ReplayRate, b.Replay.Seconds()), "", "")
		row("replay", fmt.Sprintf("replay / raw read (best of %d)", b.Rounds), fmt.Sprintf("%.1f%%", 100*b.Ratio), fmt.Sprintf(">= %.0f%%", 100*rp.Target), verdict(rp.Pass && rp.Error == ""))
		errRow(row, "replay", rp.Error)
	}
	if rc := r.Recovery; rc != nil {
		var each, outs []string
		for _, c := range rc.Cycles {
			each = append(each, fmt.Sprintf("%.2f", c.ToCommit))
			outs = append(outs, fmt.Sprintf("%.2f", c.ToOutcome))
		}
		row("recovery", fmt.Sprintf("kill -9 -> first commit @ %d/s (s)", rc.Rate), strings.Join(each, " ")+fmt.Sprintf("; max %.2f", rc.MaxSeconds), fmt.Sprintf("<= %.0f s", rc.Target), verdict(rc.Pass && rc.Error == ""))
		row("recovery", "kill -9 -> first new request's outcome (s)", strings.Join(outs, " "), "", "")
		if len(rc.Cycles) > 0 {
			var a Recovery
			for _, c := range rc.Cycles {
				a.Starting += c.Starting
				a.CatalogLoaded += c.CatalogLoaded
				a.Ready += c.Ready
				a.Assigned += c.Assigned
				a.ToCommit += c.ToCommit
				a.RestoreTook += c.RestoreTook
			}
			n := float64(len(rc.Cycles))
			row("recovery", "mean phases after kill (s)", fmt.Sprintf("started %.2f, catalog %.2f, init txn %.2f, assigned %.2f (restore %.2f), commit %.2f",
				a.Starting/n, a.CatalogLoaded/n, a.Ready/n, a.Assigned/n, a.RestoreTook/n, a.ToCommit/n), "", "")
		}
		errRow(row, "recovery", rc.Error)
	}
	if mm := r.Memory; mm != nil {
		row("memory", "RSS idle / with carts / high water", fmt.Sprintf("%.1f / %.1f / %.1f MiB", kib(mm.IdleRSS), kib(mm.LoadedRSS), kib(mm.LoadedHWM)), "", "")
		row("memory", fmt.Sprintf("RSS per cart above idle, %d carts", mm.Carts), fmt.Sprintf("%.2f KiB", mm.KiBPerCart), fmt.Sprintf("<= %.1f KiB", mm.Target), verdict(mm.Pass && mm.Error == ""))
		row("memory", "live Go heap idle / with carts (per cart)", fmt.Sprintf("%.0f / %.0f MiB (%.2f KiB)", mm.IdleHeapMiB, mm.LoadedHeapMiB, mm.HeapKiBPerCart), "", "")
		row("memory", fmt.Sprintf("restored by a fresh process: %d carts", mm.RestoredCarts), fmt.Sprintf("RSS %.1f MiB, %.2f KiB/cart, heap %.0f MiB", kib(mm.RestoredRSS), mm.RestoredPerCart, mm.RestoredHeapMiB), "", "")
		errRow(row, "memory", mm.Error)
	}
	if p := r.Peer; p != nil {
		writePeerRows(row, verdict, p)
	}
	if rs := r.ReadScale; rs != nil {
		readScaleRows(row, verdict, rs)
	}
	if c := r.Checkout; c != nil {
		checkoutRows(row, verdict, c)
	}
	return tw.Flush()
}

// readScaleRows are the readscale scenario's rows.
func readScaleRows(row func(...string), verdict func(bool) string, rs *ReadScaleResult) {
	row("readscale", fmt.Sprintf("%d carts, %d replicas: cold, all partitions ready", rs.Carts, rs.Replicas), fmt.Sprintf("%.2f s (replicas ready %v s, RSS %v KiB)", rs.ColdSeconds, rs.ColdPerReplica, rs.ColdRSSKiB), "", "")
	warm := 0.0
	if len(rs.WarmPerReplica) > 0 {
		warm = slices.Max(rs.WarmPerReplica)
	}
	row("readscale", "warm restart per replica, to ready", fmt.Sprintf("%v s (restored %v carts)", rs.WarmPerReplica, rs.RestoredCarts), fmt.Sprintf("<= %.0f s", rs.TargetWarmS), verdict(warm <= rs.TargetWarmS && len(rs.WarmPerReplica) > 0))
	row("readscale", "memory: RSS of the replicas per cart (after warm restarts)", fmt.Sprintf("%.0f bytes (RSS %v KiB)", rs.BytesPerCart, rs.RSSKiB), fmt.Sprintf("<= %.0f bytes", rs.TargetBytes), verdict(rs.BytesPerCart > 0 && rs.BytesPerCart <= rs.TargetBytes))
	row("readscale", "routed GetCart p50/p99/p99.9 (gateway -> owner)", fmt.Sprintf("%.2f / %.2f / %.2f ms, %.0f/s, %d errors", rs.GetCart.P50, rs.GetCart.P99, rs.GetCart.P999, rs.GetCartRate, rs.GetCartErrors),
		fmt.Sprintf("p99 <= %.0f ms", rs.TargetGetCartP99), verdict(rs.GetCart.N > 0 && rs.GetCart.P99 <= rs.TargetGetCartP99 && rs.GetCartErrors == 0))
	row("readscale", "partition unavailable: warm restart | moved (kill -9, no standby) | rejoin | moved with a standby", fmt.Sprintf("%.2f s | %.2f s (session timeout %.0f s) | %.2f s | %.2f s",
		rs.RestartGapMax, rs.MovedGapMax, rs.SessionTimeout, rs.RejoinGapMax, rs.StandbyMovedGapMax), "", "")
	row("readscale", "failed queries during restarts, kill -9 and rejoin", fmt.Sprintf("%d of %d", rs.FailedQueries, rs.ProbeQueries), "0", verdict(rs.ProbeQueries > 0 && rs.FailedQueries == 0))
	errRow(row, "readscale", rs.Error)
}

func errRow(row func(...string), scenario, err string) {
	if err != "" {
		row(scenario, "ERROR", err, "", "FAILED")
	}
}

func mib(b int64) float64 {
	if b < 0 {
		return -1
	}
	return float64(b) / (1 << 20)
}

func kib(k int64) float64 { return float64(k) / 1024 }

// heapStr is a live heap from gctrace; -1 means no collection yet.
func heapStr(m float64) string {
	if m < 0 {
		return "< 4 (no GC yet)"
	}
	return fmt.Sprintf("%.0f", m)
}

// stageRows prints a latency run's stage table: p50 / p99 of each stage.
func stageRows(row func(...string), scenario string, run LatencyRun) {
	for _, st := range run.Stages.Stages {
		row(scenario, fmt.Sprintf("stage @ %d/s %-12s p50/p99", run.Rate, st.Name), fmt.Sprintf("%.2f / %.2f ms", st.P50, st.P99), "", "")
	}
}

// checkoutRows are the checkout scenario's rows.
func checkoutRows(row func(...string), verdict func(bool) string, c *CheckoutResult) {
	runRows := func(name string, run CheckoutRun) {
		row("checkout", fmt.Sprintf("%s @ %d/s: checkout decided p50/p99/p99.9 (%d carts)", name, run.Rate, run.Carts),
			fmt.Sprintf("%.1f / %.1f / %.1f ms", run.Checkout.P50, run.Checkout.P99, run.Checkout.P999), "", "")
		row("checkout", fmt.Sprintf("%s @ %d/s: AddItem outcome p50/p99 (baseline); checkout p99 / AddItem p99", name, run.Rate),
			fmt.Sprintf("%.1f / %.1f ms; x%.2f", run.AddItem.P50, run.AddItem.P99, run.P99Ratio), "", "")
		row("checkout", fmt.Sprintf("%s @ %d/s: checked out, rejected, missing; granted, refused, released", name, run.Rate),
			fmt.Sprintf("%d, %d, %d; %d, %d, %d", run.CheckedOut, run.Rejected, run.Missing, run.Granted, run.Refused, run.Released), "", verdict(run.Missing == 0))
		row("checkout", fmt.Sprintf("%s @ %d/s: transactions per checkout, manager + inventory", name, run.Rate),
			fmt.Sprintf("%.2f + %.2f (%d + %d)", run.ManagerPerCO, run.ProcessorPerCO, run.ManagerTxns, run.ProcessorTxns), "", "")
	}
	for _, run := range c.Runs {
		runRows("stock enough", run)
	}
	if c.Short.Carts > 0 {
		runRows("stock short", c.Short)
		if c.Short.Refusal.N > 0 {
			row("checkout", fmt.Sprintf("stock short @ %d/s: refusal (OUT_OF_STOCK) decided p50/p99", c.Short.Rate), fmt.Sprintf("%.1f / %.1f ms", c.Short.Refusal.P50, c.Short.Refusal.P99), "", "")
		}
	}
	s := c.Saturation
	row("checkout", fmt.Sprintf("saturation, %d closed-loop clients: decided", s.Clients), fmt.Sprintf("%.0f checkouts/s (p50 %.1f, p99 %.1f ms; %d missing)", s.Rate, s.Latency.P50, s.Latency.P99, s.Missing), "", "")
	row("checkout", fmt.Sprintf("every checkout decided once (%d partitions by cart | by SKU)", c.Partitions), fmt.Sprintf("%d missing, %d duplicated", c.Missing, c.Duplicated), "0, 0", verdict(c.Missing == 0 && c.Duplicated == 0 && c.Error == ""))
	var final []string
	for _, l := range c.Stock.Scarce {
		final = append(final, fmt.Sprintf("%s %d avail + %d reserved", l.SKU, l.Available, l.Reserved))
	}
	row("checkout", fmt.Sprintf("stock levels read, negative; scarce (%d units set) final", c.Stock.ScarceUnits), fmt.Sprintf("%d, %d; %s", c.Stock.Levels, c.Stock.Negative, strings.Join(final, ", ")), "0 negative", verdict(c.Stock.Levels > 0 && c.Stock.Negative == 0))
	errRow(row, "checkout", c.Error)
}
