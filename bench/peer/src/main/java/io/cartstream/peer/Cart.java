package io.cartstream.peer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The cart domain as the peer needs it: a port of the Go package cart
 * (command.go, catalog.go, state.go, limits.go, ids.go, money.go) reduced to
 * the values {@link Decide} works on. Every rule and constant here has its
 * Go original named beside it; when the Go domain changes, this file and
 * Decide.java change with it, and the bench's request-by-request
 * comparison fails until they do.
 */
final class Cart {
    private Cart() {}

    /** cart.MaxIDLength. */
    static final int MAX_ID_LENGTH = 64;
    /** cart.MaxQuantity: the hard ceiling of a line's quantity. */
    static final int MAX_QUANTITY = 9999;
    /** cart.MaxProductNameLength, in UTF-8 bytes. */
    static final int MAX_PRODUCT_NAME_LENGTH = 256;
    /** cart.DefaultMaxLines: Limits{} with defaults, as the manager runs. */
    static final int MAX_LINES = 50;
    /** cart.DefaultMaxQuantityPerLine. */
    static final int DEFAULT_MAX_QUANTITY_PER_LINE = 99;
    /** cart.RequestWindowSize. */
    static final int REQUEST_WINDOW_SIZE = 64;

    /** The command kinds, numbered as cart.Kind (the fingerprint hashes the number). */
    enum Kind {
        ADD_ITEM(1, "AddItem"),
        REMOVE_ITEM(2, "RemoveItem"),
        CHANGE_QUANTITY(3, "ChangeQuantity"),
        CHECKOUT(4, "Checkout");

        final int number;
        final String title;

        Kind(int number, String title) {
            this.number = number;
            this.title = title;
        }

        /** The record header event-type of the request's rejection, e.g. AddItemInvalidRequest. */
        String invalidType() {
            return title + "InvalidRequest";
        }
    }

    /** The reason codes the port can produce, spelled as cart.Reason's names. */
    static final class Reason {
        private Reason() {}

        static final String MALFORMED = "MALFORMED";
        static final String UNKNOWN_SKU = "UNKNOWN_SKU";
        static final String INACTIVE_SKU = "INACTIVE_SKU";
        static final String INVALID_PRODUCT = "INVALID_PRODUCT";
        static final String QUANTITY_OUT_OF_RANGE = "QUANTITY_OUT_OF_RANGE";
        static final String LINE_LIMIT = "LINE_LIMIT";
        static final String CART_CHECKED_OUT = "CART_CHECKED_OUT";
        static final String EMPTY_CART = "EMPTY_CART";
        static final String ITEM_NOT_IN_CART = "ITEM_NOT_IN_CART";
        static final String CURRENCY_MISMATCH = "CURRENCY_MISMATCH";
        static final String DUPLICATE_REQUEST = "DUPLICATE_REQUEST";
        static final String AMOUNT_OVERFLOW = "AMOUNT_OVERFLOW";
        static final String WRONG_CART = "WRONG_CART";
        static final String CUSTOMER_MISMATCH = "CUSTOMER_MISMATCH";
        static final String PRICE_CHANGED = "PRICE_CHANGED";
        static final String INVALID_STATE = "INVALID_STATE";
    }

    /** cart.Money: minor units and an ISO 4217 code. */
    record Money(long amount, String currency) {
        static final Money ZERO = new Money(0, "");

        /** cart.Money.Mul; throws ArithmeticException on overflow. */
        Money times(long n) {
            return new Money(Math.multiplyExact(amount, n), currency);
        }

        @Override
        public String toString() {
            return amount + " " + currency;
        }
    }

    /** cart.Line. */
    record Line(String sku, String name, Money unitPrice, int quantity) {}

    /** cart.Product. */
    record Product(String sku, String name, Money unitPrice, boolean active, int maxQuantityPerLine) {
        /** cart.Product.Validate, true when it reports nothing. */
        boolean valid() {
            int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
            return validId(sku) && nameBytes >= 1 && nameBytes <= MAX_PRODUCT_NAME_LENGTH
                    && validCurrency(unitPrice.currency()) && unitPrice.amount() >= 0
                    && maxQuantityPerLine >= 0 && maxQuantityPerLine <= MAX_QUANTITY;
        }

        /** cart.Limits.QuantityCap under the default limits. */
        int quantityCap() {
            return maxQuantityPerLine > 0 ? Math.min(maxQuantityPerLine, MAX_QUANTITY) : DEFAULT_MAX_QUANTITY_PER_LINE;
        }
    }

    /**
     * A decoded and syntactically valid command (cart.AddItem and its three
     * siblings in one shape): customerId is "" for RemoveItem and
     * ChangeQuantity, sku "" and quantity 0 where the kind has none.
     */
    record Command(Kind kind, String cartId, String requestId, String customerId, long requestedAt, String sku, int quantity) {}

    /** cart.CartState; mutable, copied before every change. */
    static final class State {
        String cartId;
        String customerId = "";
        boolean checkedOut;
        String currency = "";
        List<Line> lines = new ArrayList<>();
        Money subtotal = Money.ZERO;
        long itemCount;
        long version;
        long updatedAt;
        long checkedOutAt;

        State(String cartId) {
            this.cartId = cartId;
        }

        State copy() {
            State s = new State(cartId);
            s.customerId = customerId;
            s.checkedOut = checkedOut;
            s.currency = currency;
            s.lines = new ArrayList<>(lines);
            s.subtotal = subtotal;
            s.itemCount = itemCount;
            s.version = version;
            s.updatedAt = updatedAt;
            s.checkedOutAt = checkedOutAt;
            return s;
        }

        int lineIndex(String sku) {
            for (int i = 0; i < lines.size(); i++) {
                if (lines.get(i).sku().equals(sku)) {
                    return i;
                }
            }
            return -1;
        }

        Line line(String sku) {
            int i = lineIndex(sku);
            return i < 0 ? null : lines.get(i);
        }

        /** cart.CartState.recompute; throws ArithmeticException on overflow. */
        void recompute() {
            if (lines.isEmpty()) {
                currency = "";
                subtotal = Money.ZERO;
                itemCount = 0;
                return;
            }
            String cur = lines.get(0).unitPrice().currency();
            long sum = 0;
            long items = 0;
            for (Line l : lines) {
                if (!l.unitPrice().currency().equals(cur)) {
                    throw new IllegalStateException("line " + l.sku() + ": currency mismatch");
                }
                sum = Math.addExact(sum, l.unitPrice().times(l.quantity()).amount());
                items += l.quantity();
            }
            currency = cur;
            subtotal = new Money(sum, cur);
            itemCount = items;
        }
    }

    /** cart.RequestOutcome: one entry of the request window. */
    record Outcome(String requestId, long offset, Kind kind, boolean accepted, String reason, String message,
            long fingerprint, long cartVersion) {}

    /** cart.Snapshot: the cart, the last request offset and the window, oldest first. */
    record Snapshot(State cart, long requestOffset, List<Outcome> window) {
        static Snapshot fresh(String cartId) {
            return new Snapshot(new State(cartId), -1, List.of());
        }

        /** cart.Snapshot.Lookup: the newest entry of requestId, or null. */
        Outcome lookup(String requestId) {
            for (int i = window.size() - 1; i >= 0; i--) {
                if (window.get(i).requestId().equals(requestId)) {
                    return window.get(i);
                }
            }
            return null;
        }
    }

    /** cart.validID: 1 to 64 characters of A-Z a-z 0-9 . _ - */
    static boolean validId(String s) {
        if (s == null || s.isEmpty() || s.length() > MAX_ID_LENGTH) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '.' || c == '_' || c == '-';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /** cart.Currency.Validate: three upper-case ASCII letters. */
    static boolean validCurrency(String c) {
        if (c == null || c.length() != 3) {
            return false;
        }
        for (int i = 0; i < 3; i++) {
            if (c.charAt(i) < 'A' || c.charAt(i) > 'Z') {
                return false;
            }
        }
        return true;
    }

    /**
     * The fields of cmd that cart.ValidateCommand refuses, joined by ", ";
     * "" when it is valid. The manager's decoder (records.DecodeRequest)
     * calls ValidateCommand, so a non-empty answer makes the record MALFORMED.
     * requested_at needs no check: every int64 of nanoseconds is a set time.
     */
    static String violations(Command c) {
        List<String> bad = new ArrayList<>();
        check(bad, "cart_id", validId(c.cartId()));
        check(bad, "request_id", validId(c.requestId()));
        if (c.kind() == Kind.ADD_ITEM || c.kind() == Kind.CHECKOUT) {
            check(bad, "customer_id", validId(c.customerId()));
        }
        if (c.kind() != Kind.CHECKOUT) {
            check(bad, "sku", validId(c.sku()));
        }
        if (c.kind() == Kind.ADD_ITEM || c.kind() == Kind.CHANGE_QUANTITY) {
            check(bad, "quantity", c.quantity() >= 1 && c.quantity() <= MAX_QUANTITY);
        }
        return String.join(", ", bad);
    }

    private static void check(List<String> bad, String field, boolean ok) {
        if (!ok) {
            bad.add(field);
        }
    }
}
