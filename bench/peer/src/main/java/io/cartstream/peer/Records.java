package io.cartstream.peer;

import io.cartstream.peer.Cart.Command;
import io.cartstream.peer.Cart.Kind;
import io.cartstream.peer.Cart.Line;
import io.cartstream.peer.Cart.Money;
import io.cartstream.peer.Cart.Outcome;
import io.cartstream.peer.Cart.Product;
import io.cartstream.peer.Cart.Snapshot;
import io.cartstream.peer.Cart.State;
import io.cartstream.peer.Decide.Event;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

/**
 * Our records in Avro single-object encoding (0xC3 0x01, the writer
 * schema's CRC-64-AVRO fingerprint, the binary body), read and written with
 * Apache Avro's own BinaryMessageDecoder and BinaryMessageEncoder over the
 * repository's .avsc files, parsed at start from the directory given: the
 * peer has no copy of a schema that could drift from internal/records.
 *
 * Not thread-safe (the encoders' buffers): one instance per processor.
 */
final class Records {
    /** The schema each record type is written with and read as: internal/records' "current". */
    private static final String REQUEST = "cart_request.v1.avsc";
    private static final String PRODUCT = "product.v1.avsc";
    private static final String INVALID = "invalid_request.v1.avsc";
    private static final String SNAPSHOT = "cart_snapshot.v1.avsc";
    private static final String ADD_ITEM = "add_item_validated_request.v1.avsc";
    private static final String REMOVE_ITEM = "remove_item_validated_request.v1.avsc";
    private static final String CHANGE_QUANTITY = "change_quantity_validated_request.v1.avsc";
    private static final String CHECKED_OUT = "cart_checked_out.v1.avsc";

    /** Thrown for a record the manager would call MALFORMED. */
    static final class MalformedException extends Exception {
        private static final long serialVersionUID = 1L;

        MalformedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final Map<String, Schema> current = new HashMap<>();
    private final BinaryMessageDecoder<GenericRecord> requests;
    private final BinaryMessageDecoder<GenericRecord> products;
    private final BinaryMessageDecoder<GenericRecord> snapshots;
    private final Map<String, BinaryMessageEncoder<GenericRecord>> encoders = new HashMap<>();
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream(512);

    /** Parses every *.avsc of dir; a decoder knows every writer schema of its record's name. */
    Records(Path dir) throws IOException {
        List<Schema> all = new ArrayList<>();
        Map<String, Schema> byFile = new HashMap<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.avsc")) {
            for (Path f : files) {
                // One parser per file: the files each define Money, Line, ... anew.
                Schema s = new Schema.Parser().parse(f.toFile());
                all.add(s);
                byFile.put(f.getFileName().toString(), s);
            }
        }
        for (String name : List.of(REQUEST, PRODUCT, INVALID, SNAPSHOT, ADD_ITEM, REMOVE_ITEM, CHANGE_QUANTITY, CHECKED_OUT)) {
            Schema s = byFile.get(name);
            if (s == null) {
                throw new IOException("schema " + name + " not found in " + dir);
            }
            current.put(name, s);
            encoders.put(name, new BinaryMessageEncoder<>(GenericData.get(), s));
        }
        requests = decoder(current.get(REQUEST), all);
        products = decoder(current.get(PRODUCT), all);
        snapshots = decoder(current.get(SNAPSHOT), all);
    }

    private static BinaryMessageDecoder<GenericRecord> decoder(Schema reader, List<Schema> all) {
        BinaryMessageDecoder<GenericRecord> d = new BinaryMessageDecoder<>(GenericData.get(), reader);
        for (Schema s : all) {
            if (s.getFullName().equals(reader.getFullName())) {
                d.addSchema(s);
            }
        }
        return d;
    }

    /** records.DecodeRequest: decode, then cart.ValidateCommand; any failure is MALFORMED. */
    Command decodeRequest(byte[] value) throws MalformedException {
        Command c;
        try {
            c = command(requests.decode(value));
        } catch (IOException | RuntimeException e) {
            throw new MalformedException("records: decode request: " + e, e);
        }
        String bad = Cart.violations(c);
        if (!bad.isEmpty()) {
            throw new MalformedException("records: decode request: invalid fields: " + bad, null);
        }
        return c;
    }

    private static Command command(GenericRecord r) {
        String cartId = str(r.get("cart_id"));
        String requestId = str(r.get("request_id"));
        String customerId = r.get("customer_id") == null ? "" : str(r.get("customer_id"));
        long at = (Long) r.get("requested_at");
        GenericRecord b = (GenericRecord) r.get("command");
        switch (b.getSchema().getName()) {
            case "AddItemRequest":
                return new Command(Kind.ADD_ITEM, cartId, requestId, customerId, at, str(b.get("sku")), (Integer) b.get("quantity"));
            case "RemoveItemRequest":
                // customer_id, if a producer set it, is not part of the command.
                return new Command(Kind.REMOVE_ITEM, cartId, requestId, "", at, str(b.get("sku")), 0);
            case "ChangeQuantityRequest":
                return new Command(Kind.CHANGE_QUANTITY, cartId, requestId, "", at, str(b.get("sku")), (Integer) b.get("quantity"));
            case "CheckoutRequest":
                return new Command(Kind.CHECKOUT, cartId, requestId, customerId, at, "", 0);
            default:
                throw new IllegalArgumentException("unknown request type " + b.getSchema().getFullName());
        }
    }

    /** records.DecodeProduct without Validate: Decide checks validity where the manager's catalog would. */
    Product decodeProduct(byte[] value) throws IOException {
        GenericRecord r = products.decode(value);
        return new Product(str(r.get("sku")), str(r.get("name")), money(r.get("unit_price")),
                (Boolean) r.get("active"), (Integer) r.get("max_quantity_per_line"));
    }

    /** An accepted request's event, encoded as the manager's records.EncodeValidated. */
    byte[] encodeEvent(Event e) {
        Command c = e.cmd();
        String file;
        switch (c.kind()) {
            case ADD_ITEM:
                file = ADD_ITEM;
                break;
            case REMOVE_ITEM:
                file = REMOVE_ITEM;
                break;
            case CHANGE_QUANTITY:
                file = CHANGE_QUANTITY;
                break;
            default:
                file = CHECKED_OUT;
        }
        Schema s = current.get(file);
        GenericData.Record r = new GenericData.Record(s);
        r.put("cart_id", c.cartId());
        r.put("request_id", c.requestId());
        r.put("version", e.version());
        r.put("requested_at", c.requestedAt());
        r.put("decided_at", e.decidedAt());
        switch (c.kind()) {
            case ADD_ITEM:
                r.put("customer_id", c.customerId());
                r.put("sku", c.sku());
                r.put("name", e.name());
                r.put("unit_price", money(s.getField("unit_price").schema(), e.unitPrice()));
                r.put("quantity", c.quantity());
                break;
            case REMOVE_ITEM:
                r.put("sku", c.sku());
                break;
            case CHANGE_QUANTITY:
                r.put("sku", c.sku());
                r.put("name", e.name());
                r.put("unit_price", money(s.getField("unit_price").schema(), e.unitPrice()));
                r.put("quantity", c.quantity());
                break;
            default:
                r.put("customer_id", c.customerId());
                r.put("lines", lines(s.getField("lines").schema(), e.lines()));
                r.put("subtotal", money(s.getField("subtotal").schema(), e.subtotal()));
                r.put("item_count", e.itemCount());
        }
        return encode(file, r);
    }

    /**
     * An InvalidRequest as records.EncodeInvalid writes it; kind null is
     * UNKNOWN (an undecodable record), cartId, requestId and raw may be null.
     */
    byte[] encodeInvalid(String cartId, String requestId, Kind kind, String reason, String message,
            Long requestedAt, long decidedAt, byte[] raw) {
        Schema s = current.get(INVALID);
        GenericData.Record r = new GenericData.Record(s);
        r.put("cart_id", cartId);
        r.put("request_id", requestId);
        r.put("kind", new GenericData.EnumSymbol(s.getField("kind").schema(), kind == null ? "UNKNOWN" : kind.name()));
        r.put("reason", reason);
        r.put("message", message);
        r.put("requested_at", requestedAt);
        r.put("decided_at", decidedAt);
        r.put("raw", raw == null ? null : ByteBuffer.wrap(raw));
        return encode(INVALID, r);
    }

    /** The cart store's value: a CartSnapshot, as the manager writes to cart.state. */
    byte[] encodeSnapshot(Snapshot snap) {
        Schema s = current.get(SNAPSHOT);
        Schema cartSchema = s.getField("cart").schema();
        State st = snap.cart();
        GenericData.Record c = new GenericData.Record(cartSchema);
        c.put("cart_id", st.cartId);
        c.put("customer_id", st.customerId.isEmpty() ? null : st.customerId);
        c.put("status", new GenericData.EnumSymbol(cartSchema.getField("status").schema(), st.checkedOut ? "CHECKED_OUT" : "OPEN"));
        c.put("currency", st.currency.isEmpty() ? null : st.currency);
        c.put("lines", lines(cartSchema.getField("lines").schema(), st.lines));
        c.put("subtotal", money(cartSchema.getField("subtotal").schema(), st.subtotal));
        c.put("item_count", st.itemCount);
        c.put("version", st.version);
        c.put("updated_at", st.version == 0 ? null : st.updatedAt);
        c.put("checked_out_at", st.checkedOut ? st.checkedOutAt : null);
        Schema windowSchema = s.getField("window").schema();
        Schema outcomeSchema = windowSchema.getElementType();
        List<GenericRecord> window = new ArrayList<>(snap.window().size());
        for (Outcome o : snap.window()) {
            GenericData.Record w = new GenericData.Record(outcomeSchema);
            w.put("request_id", o.requestId());
            w.put("offset", o.offset());
            w.put("kind", new GenericData.EnumSymbol(outcomeSchema.getField("kind").schema(), o.kind() == null ? "UNKNOWN" : o.kind().name()));
            w.put("accepted", o.accepted());
            w.put("reason", o.reason());
            w.put("message", o.message());
            w.put("fingerprint", new GenericData.Fixed(outcomeSchema.getField("fingerprint").schema(),
                    ByteBuffer.allocate(8).putLong(o.fingerprint()).array()));
            w.put("cart_version", o.cartVersion());
            window.add(w);
        }
        GenericData.Record r = new GenericData.Record(s);
        r.put("cart", c);
        r.put("request_offset", snap.requestOffset());
        r.put("window", new GenericData.Array<>(windowSchema, window));
        return encode(SNAPSHOT, r);
    }

    /** The inverse of encodeSnapshot. */
    Snapshot decodeSnapshot(byte[] value) throws IOException {
        GenericRecord r = snapshots.decode(value);
        GenericRecord c = (GenericRecord) r.get("cart");
        State st = new State(str(c.get("cart_id")));
        st.customerId = c.get("customer_id") == null ? "" : str(c.get("customer_id"));
        st.checkedOut = "CHECKED_OUT".equals(c.get("status").toString());
        st.currency = c.get("currency") == null ? "" : str(c.get("currency"));
        for (Object o : (List<?>) c.get("lines")) {
            GenericRecord l = (GenericRecord) o;
            st.lines.add(new Line(str(l.get("sku")), str(l.get("name")), money(l.get("unit_price")), (Integer) l.get("quantity")));
        }
        st.subtotal = money(c.get("subtotal"));
        st.itemCount = (Long) c.get("item_count");
        st.version = (Long) c.get("version");
        st.updatedAt = c.get("updated_at") == null ? 0 : (Long) c.get("updated_at");
        st.checkedOutAt = c.get("checked_out_at") == null ? 0 : (Long) c.get("checked_out_at");
        List<?> ws = (List<?>) r.get("window");
        List<Outcome> window = new ArrayList<>(ws.size());
        for (Object o : ws) {
            GenericRecord w = (GenericRecord) o;
            window.add(new Outcome(str(w.get("request_id")), (Long) w.get("offset"), Decide.kindOf(w.get("kind").toString()),
                    (Boolean) w.get("accepted"), str(w.get("reason")), str(w.get("message")),
                    ByteBuffer.wrap(((GenericFixed) w.get("fingerprint")).bytes()).getLong(), (Long) w.get("cart_version")));
        }
        return new Snapshot(st, (Long) r.get("request_offset"), window);
    }

    private byte[] encode(String file, GenericRecord r) {
        buf.reset();
        try {
            encoders.get(file).encode(r, buf);
        } catch (IOException e) {
            throw new UncheckedIOException("encode " + file, e);
        }
        return buf.toByteArray();
    }

    private static GenericData.Array<GenericRecord> lines(Schema arraySchema, List<Line> ls) {
        Schema ls2 = arraySchema.getElementType();
        List<GenericRecord> out = new ArrayList<>(ls.size());
        for (Line l : ls) {
            GenericData.Record r = new GenericData.Record(ls2);
            r.put("sku", l.sku());
            r.put("name", l.name());
            r.put("unit_price", money(ls2.getField("unit_price").schema(), l.unitPrice()));
            r.put("quantity", l.quantity());
            out.add(r);
        }
        return new GenericData.Array<>(arraySchema, out);
    }

    private static GenericRecord money(Schema s, Money m) {
        GenericData.Record r = new GenericData.Record(s);
        r.put("amount_minor", m.amount());
        r.put("currency", m.currency());
        return r;
    }

    private static Money money(Object o) {
        GenericRecord r = (GenericRecord) o;
        return new Money((Long) r.get("amount_minor"), str(r.get("currency")));
    }

    private static String str(Object o) {
        return o.toString();
    }
}
