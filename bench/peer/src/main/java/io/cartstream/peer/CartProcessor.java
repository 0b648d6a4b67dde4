package io.cartstream.peer;

import io.cartstream.peer.Cart.Command;
import io.cartstream.peer.Cart.Product;
import io.cartstream.peer.Cart.Reason;
import io.cartstream.peer.Cart.Snapshot;
import io.cartstream.peer.Decide.Step;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The AddItemManager's job for one task: decode each cart.requests record,
 * take the cart's snapshot from the state store, decide (Decide.process),
 * forward the outcome to the validated or the invalid sink with the
 * manager's headers, and put the next snapshot back. Under
 * exactly_once_v2 the outcomes, the store's changelog and the consumed
 * offsets commit in one transaction, as the manager's do.
 */
final class CartProcessor implements Processor<byte[], byte[], byte[], byte[]> {
    static final String CARTS = "carts";
    static final String CATALOG = "catalog";
    static final String VALIDATED_SINK = "validated";
    static final String INVALID_SINK = "invalid";

    /** validation.MaxMalformedRaw. */
    private static final int MAX_MALFORMED_RAW = 64 << 10;

    /** Counters over all tasks, printed on exit. */
    static final AtomicLong ACCEPTED = new AtomicLong();
    static final AtomicLong REJECTED = new AtomicLong();
    static final AtomicLong DUPLICATES = new AtomicLong();
    static final AtomicLong STALE = new AtomicLong();
    static final AtomicLong MALFORMED = new AtomicLong();

    private final Path schemas;
    private ProcessorContext<byte[], byte[]> ctx;
    private KeyValueStore<String, byte[]> carts;
    private KeyValueStore<String, byte[]> catalog;
    private Records records;
    /** Decoded products by SKU, with the bytes they came from: the global store holds bytes. */
    private final Map<String, Map.Entry<byte[], Product>> products = new HashMap<>();

    CartProcessor(Path schemas) {
        this.schemas = schemas;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        ctx = context;
        carts = context.getStateStore(CARTS);
        catalog = context.getStateStore(CATALOG);
        try {
            records = new Records(schemas);
        } catch (IOException e) {
            throw new UncheckedIOException("load schemas from " + schemas, e);
        }
    }

    @Override
    public void process(Record<byte[], byte[]> r) {
        long offset = ctx.recordMetadata().orElseThrow().offset();
        long now = nowNanos();
        String key = r.key() == null ? "" : new String(r.key(), StandardCharsets.UTF_8);
        Command cmd;
        try {
            cmd = records.decodeRequest(r.value() == null ? new byte[0] : r.value());
            if (!cmd.cartId().equals(key)) {
                throw new Records.MalformedException("record key does not match cart id \"" + cmd.cartId() + "\"", null);
            }
        } catch (Records.MalformedException e) {
            malformed(r, key, offset, e.getMessage(), now);
            return;
        }
        byte[] stored = carts.get(key);
        Snapshot snap = stored == null ? Snapshot.fresh(key) : decodeSnapshot(key, stored);
        Step step = Decide.process(snap, cmd, offset, this::product, now);
        String trace = header(r.headers(), "traceparent");
        switch (step.disposition()) {
            case ACCEPTED:
                ACCEPTED.incrementAndGet();
                forward(r, VALIDATED_SINK, records.encodeEvent(step.event()), cmd.requestId(), step.event().type(), trace, offset);
                break;
            case REJECTED:
                REJECTED.incrementAndGet();
                byte[] inv = records.encodeInvalid(cmd.cartId(), cmd.requestId(), cmd.kind(), step.reason(), step.message(),
                        cmd.requestedAt(), now, null);
                forward(r, INVALID_SINK, inv, cmd.requestId(), cmd.kind().invalidType(), trace, offset);
                break;
            case DUPLICATE:
                DUPLICATES.incrementAndGet();
                break;
            case STALE:
                STALE.incrementAndGet();
                return;
            default:
                throw new IllegalStateException("unknown disposition " + step.disposition());
        }
        carts.put(key, records.encodeSnapshot(step.next()));
    }

    private Snapshot decodeSnapshot(String key, byte[] stored) {
        try {
            return records.decodeSnapshot(stored);
        } catch (IOException | RuntimeException e) {
            // The store holds only what this processor wrote: a snapshot it
            // cannot read back is a bug, and stops the application.
            throw new IllegalStateException("snapshot of cart " + key + " is unreadable", e);
        }
    }

    /** The catalog's product of sku, or null: unknown, deleted or undecodable. */
    private Product product(String sku) {
        byte[] raw = catalog.get(sku);
        if (raw == null) {
            return null;
        }
        Map.Entry<byte[], Product> hit = products.get(sku);
        if (hit != null && (hit.getKey() == raw || Arrays.equals(hit.getKey(), raw))) {
            return hit.getValue();
        }
        try {
            Product p = records.decodeProduct(raw);
            products.put(sku, Map.entry(raw, p));
            return p;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** validation's malformed: the raw bytes to the invalid topic, and no change to any cart. */
    private void malformed(Record<byte[], byte[]> r, String key, long offset, String cause, long now) {
        MALFORMED.incrementAndGet();
        byte[] raw = r.value() == null ? new byte[0] : r.value();
        String text = "record could not be decoded: " + cause;
        if (raw.length > MAX_MALFORMED_RAW) {
            text += " (raw bytes truncated from " + raw.length + " to " + MAX_MALFORMED_RAW + ")";
            raw = Arrays.copyOf(raw, MAX_MALFORMED_RAW);
        }
        String cartId = Cart.validId(key) ? key : null;
        byte[] inv = records.encodeInvalid(cartId, null, null, Reason.MALFORMED, text, null, now, raw);
        forward(r, INVALID_SINK, inv, header(r.headers(), "request-id"), "MalformedRequest", header(r.headers(), "traceparent"), offset);
    }

    /** Forwards an outcome with validation's outcomeHeaders. */
    private void forward(Record<byte[], byte[]> in, String sink, byte[] value, String requestId, String eventType,
            String trace, long offset) {
        Headers h = new RecordHeaders();
        h.add("request-id", requestId.getBytes(StandardCharsets.UTF_8));
        h.add("event-type", eventType.getBytes(StandardCharsets.UTF_8));
        h.add("request-offset", Long.toString(offset).getBytes(StandardCharsets.UTF_8));
        if (!trace.isEmpty()) {
            h.add("traceparent", trace.getBytes(StandardCharsets.UTF_8));
        }
        ctx.forward(new Record<>(in.key(), value, in.timestamp(), h), sink);
    }

    /** The first header of key, as validation's headerValue; "" when absent. */
    private static String header(Headers hs, String key) {
        for (Header h : hs.headers(key)) {
            return h.value() == null ? "" : new String(h.value(), StandardCharsets.UTF_8);
        }
        return "";
    }

    private static long nowNanos() {
        Instant t = Instant.now();
        return t.getEpochSecond() * 1_000_000_000L + t.getNano();
    }
}
