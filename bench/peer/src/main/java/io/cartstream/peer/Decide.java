package io.cartstream.peer;

import io.cartstream.peer.Cart.Command;
import io.cartstream.peer.Cart.Kind;
import io.cartstream.peer.Cart.Line;
import io.cartstream.peer.Cart.Money;
import io.cartstream.peer.Cart.Outcome;
import io.cartstream.peer.Cart.Product;
import io.cartstream.peer.Cart.Reason;
import io.cartstream.peer.Cart.Snapshot;
import io.cartstream.peer.Cart.State;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The write side's step for one request: a port of cart.Process,
 * cart.Decide (the rules in their order) and cart.Apply (the fold) for
 * decoded, syntactically valid commands. The peer must give the
 * manager's disposition and reason for every request; the bench checks it.
 */
final class Decide {
    private Decide() {}

    /** What the caller writes: cart.Disposition. */
    enum Disposition { ACCEPTED, REJECTED, DUPLICATE, STALE }

    /** An accepted command's event (one of the four cart.validated types). */
    record Event(String type, Command cmd, long version, long decidedAt, String name, Money unitPrice,
            List<Line> lines, Money subtotal, long itemCount) {}

    /** cart.Outcome plus the next snapshot. */
    record Step(Disposition disposition, Snapshot next, Event event, String reason, String message) {}

    /** A rejection or an event, as cart.Decision. */
    private record Decision(Event event, State folded, String reason, String message) {
        static Decision reject(String reason, String message) {
            return new Decision(null, null, reason, message);
        }
    }

    /**
     * cart.Process: deduplicate by the request window, Decide, Apply, record.
     * catalog returns the product of a SKU or null.
     */
    static Step process(Snapshot snap, Command cmd, long offset, Function<String, Product> catalog, long decidedAt) {
        if (offset < 0 || offset <= snap.requestOffset()) {
            return new Step(Disposition.STALE, snap, null, null, null);
        }
        long fp = fingerprint(cmd);
        Outcome prev = snap.lookup(cmd.requestId());
        if (prev != null) {
            List<Outcome> kept = keepNewest(snap.window(), Cart.REQUEST_WINDOW_SIZE);
            Snapshot next = new Snapshot(snap.cart(), offset, kept);
            if (prev.fingerprint() == fp) {
                return new Step(Disposition.DUPLICATE, next, null, null, null);
            }
            return new Step(Disposition.REJECTED, next, null, Reason.DUPLICATE_REQUEST,
                    "request id was already used for a different command");
        }
        Decision d = decide(snap.cart(), cmd, catalog, decidedAt);
        boolean accepted = d.event() != null;
        State cart = accepted ? d.folded() : snap.cart();
        Outcome rec = new Outcome(cmd.requestId(), offset, cmd.kind(), accepted, accepted ? "" : d.reason(),
                accepted ? "" : d.message(), fp, cart.version);
        List<Outcome> window = new ArrayList<>(keepNewest(snap.window(), Cart.REQUEST_WINDOW_SIZE - 1));
        window.add(rec);
        Snapshot next = new Snapshot(cart, offset, window);
        if (accepted) {
            return new Step(Disposition.ACCEPTED, next, d.event(), null, null);
        }
        return new Step(Disposition.REJECTED, next, null, d.reason(), d.message());
    }

    private static List<Outcome> keepNewest(List<Outcome> w, int n) {
        return w.size() > n ? w.subList(w.size() - n, w.size()) : w;
    }

    /**
     * cart.Decide from the identity check on: the command's syntax was
     * checked by the decoder (as the manager's is), and the stored state is
     * the peer's own (see docs/benchmarks.md for what that leaves out).
     */
    private static Decision decide(State s, Command c, Function<String, Product> catalog, long decidedAt) {
        if (!s.cartId.isEmpty() && !s.cartId.equals(c.cartId())) {
            return Decision.reject(Reason.WRONG_CART, "command is for another cart than the state given");
        }
        if (s.checkedOut) {
            return Decision.reject(Reason.CART_CHECKED_OUT, "cart is checked out");
        }
        Decider d = new Decider(s, c, catalog, decidedAt);
        Decision dec;
        switch (c.kind()) {
            case ADD_ITEM:
                dec = d.addItem();
                break;
            case REMOVE_ITEM:
                dec = d.removeItem();
                break;
            case CHANGE_QUANTITY:
                dec = d.changeQuantity();
                break;
            case CHECKOUT:
                dec = d.checkout();
                break;
            default:
                throw new IllegalArgumentException("unknown kind " + c.kind());
        }
        if (dec.event() == null) {
            return dec;
        }
        // The trial fold of cart.Decide: the structural rules (totals that
        // fit, one currency) are the fold's.
        try {
            return new Decision(dec.event(), apply(s, dec.event()), null, null);
        } catch (ArithmeticException e) {
            return Decision.reject(Reason.AMOUNT_OVERFLOW, "cart total would exceed the largest representable amount");
        } catch (IllegalStateException e) {
            return Decision.reject(Reason.INVALID_STATE, "decided event does not fit the cart: " + e.getMessage());
        }
    }

    /** The per-command rules of cart.decider. */
    private static final class Decider {
        private final State s;
        private final Command c;
        private final Function<String, Product> catalog;
        private final long decidedAt;
        private Decision rejection;

        Decider(State s, Command c, Function<String, Product> catalog, long decidedAt) {
            this.s = s;
            this.c = c;
            this.catalog = catalog;
            this.decidedAt = decidedAt;
        }

        /** decider.product: the sellable product of sku, or null with rejection set. */
        private Product product(String sku) {
            Product p = catalog.apply(sku);
            if (p == null) {
                rejection = Decision.reject(Reason.UNKNOWN_SKU, "sku " + sku + " is not in the catalog");
            } else if (!p.sku().equals(sku) || !p.valid()) {
                rejection = Decision.reject(Reason.INVALID_PRODUCT, "catalog entry of sku " + sku + " is unusable");
            } else if (!p.active()) {
                rejection = Decision.reject(Reason.INACTIVE_SKU, "sku " + sku + " is not for sale");
            } else {
                return p;
            }
            return null;
        }

        private boolean currencyFits(String sku, String cur) {
            for (Line l : s.lines) {
                if (!l.sku().equals(sku) && !l.unitPrice().currency().equals(cur)) {
                    return false;
                }
            }
            return true;
        }

        private boolean owner(String id) {
            return s.customerId.isEmpty() || s.customerId.equals(id);
        }

        private Decision currencyMismatch(Product p) {
            return Decision.reject(Reason.CURRENCY_MISMATCH, "sku " + c.sku() + " is priced in "
                    + p.unitPrice().currency() + ", the cart in " + s.currency);
        }

        private Event event(String type, String name, Money price, List<Line> lines) {
            return new Event(type, c, s.version + 1, decidedAt, name, price, lines, s.subtotal, s.itemCount);
        }

        Decision addItem() {
            if (!owner(c.customerId())) {
                return Decision.reject(Reason.CUSTOMER_MISMATCH, "cart belongs to another customer");
            }
            Product p = product(c.sku());
            if (p == null) {
                return rejection;
            }
            if (!currencyFits(c.sku(), p.unitPrice().currency())) {
                return currencyMismatch(p);
            }
            Line line = s.line(c.sku());
            int limit = p.quantityCap();
            long n = (line == null ? 0L : line.quantity()) + c.quantity();
            if (n > limit) {
                return Decision.reject(Reason.QUANTITY_OUT_OF_RANGE, "sku " + c.sku() + ": line would hold " + n
                        + ", at most " + limit + " allowed");
            }
            if (line == null && s.lines.size() >= Cart.MAX_LINES) {
                return Decision.reject(Reason.LINE_LIMIT, "cart already holds " + s.lines.size() + " lines, the most allowed");
            }
            return new Decision(event("AddItemValidatedRequest", p.name(), p.unitPrice(), null), null, null, null);
        }

        Decision removeItem() {
            if (s.line(c.sku()) == null) {
                return Decision.reject(Reason.ITEM_NOT_IN_CART, "sku " + c.sku() + " is not in the cart");
            }
            return new Decision(event("RemoveItemValidatedRequest", null, null, null), null, null, null);
        }

        /** A customer can always buy less; keeping or raising is buying at today's terms. */
        Decision changeQuantity() {
            Line line = s.line(c.sku());
            if (line == null) {
                return Decision.reject(Reason.ITEM_NOT_IN_CART, "sku " + c.sku() + " is not in the cart");
            }
            String name = line.name();
            Money price = line.unitPrice();
            if (c.quantity() >= line.quantity()) {
                Product p = product(c.sku());
                if (p == null) {
                    return rejection;
                }
                if (!currencyFits(c.sku(), p.unitPrice().currency())) {
                    return currencyMismatch(p);
                }
                if (c.quantity() > p.quantityCap()) {
                    return Decision.reject(Reason.QUANTITY_OUT_OF_RANGE, "sku " + c.sku() + ": at most "
                            + p.quantityCap() + " allowed");
                }
                name = p.name();
                price = p.unitPrice();
            }
            return new Decision(event("ChangeQuantityValidatedRequest", name, price, null), null, null, null);
        }

        /** Sells at the prices the cart shows only if the catalog still offers them. */
        Decision checkout() {
            if (s.lines.isEmpty()) {
                return Decision.reject(Reason.EMPTY_CART, "cart is empty");
            }
            if (!owner(c.customerId())) {
                return Decision.reject(Reason.CUSTOMER_MISMATCH, "cart belongs to another customer");
            }
            for (Line l : s.lines) {
                Product p = product(l.sku());
                if (p == null) {
                    return rejection;
                }
                if (!p.unitPrice().equals(l.unitPrice())) {
                    return Decision.reject(Reason.PRICE_CHANGED, "sku " + l.sku() + " now costs " + p.unitPrice()
                            + ", the cart shows " + l.unitPrice());
                }
            }
            return new Decision(event("CartCheckedOut", null, null, List.copyOf(s.lines)), null, null, null);
        }
    }

    /**
     * cart.Apply for an event Decide made: the checks that can fail on such
     * an event are the totals (ArithmeticException on overflow) and one
     * currency (IllegalStateException).
     */
    static State apply(State state, Event e) {
        State next = state.copy();
        next.cartId = e.cmd().cartId();
        String sku = e.cmd().sku();
        int i = next.lineIndex(sku);
        switch (e.cmd().kind()) {
            case ADD_ITEM: {
                next.customerId = e.cmd().customerId();
                if (i >= 0) {
                    Line l = next.lines.get(i);
                    int q = l.quantity() + e.cmd().quantity();
                    if (q > Cart.MAX_QUANTITY) {
                        throw new IllegalStateException("sku " + sku + " would hold " + q);
                    }
                    next.lines.set(i, new Line(sku, e.name(), e.unitPrice(), q));
                } else {
                    next.lines.add(new Line(sku, e.name(), e.unitPrice(), e.cmd().quantity()));
                }
                break;
            }
            case REMOVE_ITEM:
                next.lines.remove(i);
                break;
            case CHANGE_QUANTITY:
                next.lines.set(i, new Line(sku, e.name(), e.unitPrice(), e.cmd().quantity()));
                break;
            case CHECKOUT:
                next.checkedOut = true;
                next.checkedOutAt = e.decidedAt();
                break;
            default:
                throw new IllegalArgumentException("unknown kind " + e.cmd().kind());
        }
        next.recompute();
        next.version = e.version();
        next.updatedAt = e.decidedAt();
        return next;
    }

    private static final byte[] FINGERPRINT_VERSION = "cartstream/cart.command.v1".getBytes(StandardCharsets.UTF_8);

    /**
     * cart.FingerprintOf: the first 8 bytes (big-endian) of SHA-256 over
     * uvarint-length-prefixed version, the kind's number, the cart,
     * customer and SKU strings, and the quantity as a big-endian uint32.
     */
    static long fingerprint(Command c) {
        ByteArrayOutputStream b = new ByteArrayOutputStream(64 + c.cartId().length() + c.sku().length());
        appendUvarint(b, FINGERPRINT_VERSION.length);
        b.writeBytes(FINGERPRINT_VERSION);
        b.write(c.kind().number);
        for (String s : new String[] {c.cartId(), c.customerId(), c.sku()}) {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            appendUvarint(b, bytes.length);
            b.writeBytes(bytes);
        }
        b.writeBytes(ByteBuffer.allocate(4).putInt(c.quantity()).array());
        return ByteBuffer.wrap(sha256().digest(b.toByteArray())).getLong();
    }

    private static void appendUvarint(ByteArrayOutputStream b, long v) {
        while (v >= 0x80) {
            b.write((int) (v & 0x7f) | 0x80);
            v >>>= 7;
        }
        b.write((int) v);
    }

    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    });

    private static MessageDigest sha256() {
        return SHA256.get();
    }

    /** The kind of a decoded kind symbol; null for UNKNOWN. */
    static Kind kindOf(String symbol) {
        for (Kind k : Kind.values()) {
            if (k.name().equals(symbol)) {
                return k;
            }
        }
        return null;
    }
}
