// cartstream demo storefront. Plain JavaScript, no dependencies: it speaks
// the HTTP/JSON API of docs/api.md on the same origin.
"use strict";

(() => {
  const API = "/v1";
  const store = window.localStorage;
  const KEY_CART = "cartstream.cartId";
  const KEY_CUSTOMER = "cartstream.customerId";
  const KEY_ORDER = "cartstream.order."; // + cart id: the order its checkout placed

  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  };

  // Identifiers: 1..64 of [A-Za-z0-9._-]; request ids are UUIDs.
  const uuid = () => {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  const newId = (prefix) => `${prefix}-${uuid().replaceAll("-", "").slice(0, 20)}`;
  const idOK = (s) => typeof s === "string" && /^[A-Za-z0-9._-]{1,64}$/.test(s);

  // ---- who calls ---------------------------------------------------------
  // Development mode (`make run`): no token; the page names its customer.
  // Token mode: a bearer token from ?token=… (kept in localStorage, then
  // dropped from the address bar) or from localStorage "cartstream.token";
  // the token names the customer, so commands send no customerId.
  const KEY_TOKEN = "cartstream.token";
  {
    const params = new URLSearchParams(location.search);
    const t = params.get("token");
    if (t !== null) {
      if (t) store.setItem(KEY_TOKEN, t); else store.removeItem(KEY_TOKEN);
      params.delete("token");
      const q = params.toString();
      history.replaceState(null, "", location.pathname + (q ? `?${q}` : "") + location.hash);
    }
  }
  const token = store.getItem(KEY_TOKEN) || "";
  const authHeaders = () => (token ? { Authorization: `Bearer ${token}` } : {});

  let cartId = store.getItem(KEY_CART);
  if (!idOK(cartId)) { cartId = newId("cart"); store.setItem(KEY_CART, cartId); }
  let customerId = store.getItem(KEY_CUSTOMER);
  if (!idOK(customerId)) { customerId = newId("cust"); store.setItem(KEY_CUSTOMER, customerId); }

  // ---- money: integer minor units + ISO 4217, never floats -------------
  const fmtCache = new Map();
  const formatter = (currency) => {
    if (!fmtCache.has(currency)) {
      let f;
      try { f = new Intl.NumberFormat(undefined, { style: "currency", currency }); }
      catch { f = null; }
      fmtCache.set(currency, f);
    }
    return fmtCache.get(currency);
  };
  const formatMoney = (m) => {
    if (!m || !m.currencyCode) return "–";
    const f = formatter(m.currencyCode);
    const digits = f ? f.resolvedOptions().maximumFractionDigits : 2;
    let minor = BigInt(m.amountMinor || "0");
    const neg = minor < 0n;
    if (neg) minor = -minor;
    const s = minor.toString().padStart(digits + 1, "0");
    const decimal = (neg ? "-" : "") + (digits ? `${s.slice(0, -digits)}.${s.slice(-digits)}` : s);
    return f ? f.format(decimal) : `${decimal} ${m.currencyCode}`;
  };

  // ---- reasons shown to people ------------------------------------------
  const REASONS = {
    REASON_CODE_UNKNOWN_SKU: "That product is not in the catalog.",
    REASON_CODE_INACTIVE_SKU: "That product is not for sale right now.",
    REASON_CODE_QUANTITY_OUT_OF_RANGE: "That quantity is more than this product allows per order.",
    REASON_CODE_LINE_LIMIT: "The cart cannot hold more different products.",
    REASON_CODE_CART_CHECKED_OUT: "This cart is already checked out. Start a new cart to keep shopping.",
    REASON_CODE_EMPTY_CART: "An empty cart cannot be checked out.",
    REASON_CODE_ITEM_NOT_IN_CART: "That product is no longer in the cart.",
    REASON_CODE_CURRENCY_MISMATCH: "That product is priced in another currency than the cart.",
    REASON_CODE_DUPLICATE_REQUEST: "That request was already used for another command.",
    REASON_CODE_AMOUNT_OVERFLOW: "The total would be too large.",
    REASON_CODE_INVALID_PRODUCT: "The catalog entry of that product is unusable.",
    REASON_CODE_CUSTOMER_MISMATCH: "This cart belongs to another customer.",
    REASON_CODE_PRICE_CHANGED: "A price changed since it was added: set the quantity again to accept the new price.",
    REASON_CODE_INVALID_STATE: "This cart cannot be read right now; the shop has been told.",
    REASON_CODE_CART_MERGED: "This cart was merged into another one.",
    REASON_CODE_NOT_EXPIRED: "The cart is still in use.",
    REASON_CODE_OUT_OF_STOCK: "Not enough in stock.",
    REASON_CODE_CHECKOUT_IN_PROGRESS: "The checkout is still reserving your items: try again in a moment.",
  };
  const reasonText = (code) => REASONS[code] || "The command was rejected.";

  // ---- notices -----------------------------------------------------------
  let noticeTimer = 0;
  const notice = (kind, title, detail = "", reason = "") => {
    const n = $("#notice");
    n.hidden = false;
    n.className = `notice ${kind}`;
    n.dataset.kind = kind;
    n.dataset.reason = reason;
    n.replaceChildren(
      el("div", { class: "text" },
        el("strong", { text: title }),
        detail ? el("span", { text: ` ${detail}` }) : "",
        reason ? el("code", { class: "reason", "data-testid": "notice-reason", text: reason.replace("REASON_CODE_", "") }) : ""),
      el("button", { type: "button", class: "close", "aria-label": "Dismiss", text: "×", onclick: () => { n.hidden = true; } }),
    );
    clearTimeout(noticeTimer);
    if (kind === "success") noticeTimer = setTimeout(() => { n.hidden = true; }, 2500);
  };

  const activity = (text, ok) => {
    const li = el("li", { class: ok ? "ok" : "bad", text: `${new Date().toLocaleTimeString()} · ${text}` });
    const list = $("#activity");
    list.prepend(li);
    while (list.children.length > 30) list.lastChild.remove();
  };

  // ---- HTTP --------------------------------------------------------------
  class APIError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }
  const call = async (method, path, body) => {
    const opts = { method, headers: { Accept: "application/json", ...authHeaders() } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(API + path, opts);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
    if (!resp.ok) throw new APIError(resp.status, data);
    return data;
  };
  const enc = encodeURIComponent;

  // ---- the cart ----------------------------------------------------------
  let cart = null; // the newest state seen (by version)
  const products = new Map();

  const render = (c) => {
    if (c && cart && c.cartId === cart.cartId && Number(c.version) < Number(cart.version)) return; // stale
    cart = c;
    $("[data-testid=cart-id]").textContent = cartId;
    const lines = $("#lines");
    lines.replaceChildren();
    const status = c ? c.status : "EMPTY";
    const st = $("[data-testid=cart-status]");
    st.dataset.status = status;
    st.textContent = { CART_STATUS_OPEN: "open", CART_STATUS_CHECKED_OUT: "checked out", CART_STATUS_MERGED: "merged", EMPTY: "empty" }[status] || status;
    const closed = status === "CART_STATUS_CHECKED_OUT" || status === "CART_STATUS_MERGED";
    document.body.classList.toggle("checked-out", closed);
    $("[data-testid=cart-version]").textContent = c ? c.version : "0";
    for (const l of (c && c.lines) || []) {
      const qty = el("input", {
        type: "number", min: "1", max: "999", value: String(l.quantity), class: "line-qty",
        "data-testid": `line-qty-${l.sku}`, "aria-label": `Quantity of ${l.name}`, inputmode: "numeric",
      });
      qty.disabled = closed;
      qty.addEventListener("change", () => {
        const q = parseInt(qty.value, 10);
        if (q >= 1) changeQuantity(l.sku, q); else qty.value = String(l.quantity);
      });
      const step = (d, label, tid) => {
        const b = el("button", { type: "button", class: "step", "aria-label": `${label} ${l.name}`, "data-testid": `${tid}-${l.sku}`, text: d > 0 ? "+" : "−" });
        b.disabled = closed || (d < 0 && l.quantity <= 1);
        b.addEventListener("click", () => changeQuantity(l.sku, l.quantity + d));
        return b;
      };
      const remove = el("button", { type: "button", class: "remove", "data-testid": `remove-${l.sku}`, "aria-label": `Remove ${l.name}`, text: "Remove" });
      remove.disabled = closed;
      remove.addEventListener("click", () => removeItem(l.sku));
      lines.append(el("li", { class: "line", "data-testid": `line-${l.sku}`, "data-quantity": String(l.quantity) },
        el("div", { class: "line-main" },
          el("span", { class: "line-name", text: l.name }),
          el("span", { class: "line-unit muted", text: `${formatMoney(l.unitPrice)} each` })),
        el("div", { class: "line-controls" }, step(-1, "One less", "dec"), qty, step(1, "One more", "inc"), remove),
        el("span", { class: "line-total", "data-testid": `line-total-${l.sku}`, text: formatMoney(l.lineTotal) })));
    }
    $("#empty").hidden = !!(c && c.lines && c.lines.length);
    $("#done").hidden = status !== "CART_STATUS_CHECKED_OUT";
    const order = store.getItem(KEY_ORDER + cartId) || "";
    $("#order-line").hidden = !order;
    $("[data-testid=order-id]").textContent = order;
    $("[data-testid=cart-count]").textContent = String((c && c.itemCount) || 0);
    const sub = $("[data-testid=cart-subtotal]");
    const m = c && c.subtotal;
    sub.textContent = m && m.currencyCode ? formatMoney(m) : "–";
    sub.dataset.amountMinor = (m && m.amountMinor) || "0";
    sub.dataset.currency = (m && m.currencyCode) || "";
    $("#checkout").disabled = closed || !(c && c.lines && c.lines.length);
    $("#clear-cart").disabled = closed || !(c && c.lines && c.lines.length);
    for (const b of document.querySelectorAll("button.add")) b.disabled = closed;
  };

  // Commands go out one at a time, in order, each waiting for its outcome.
  let queue = Promise.resolve();
  const command = (label, method, path, body) => {
    const run = async () => {
      document.body.classList.add("busy");
      try {
        const resp = await call(method, path, body);
        const out = resp && resp.outcome;
        if (!out) {
          // Recorded but the outcome was not known in time: read our write.
          const t = resp.consistencyToken || {};
          const got = await call("GET", `/carts/${enc(cartId)}?consistencyToken.partition=${t.partition || 0}&consistencyToken.offset=${t.offset || 0}`);
          render(got.cart);
          const ro = got.requestOutcome;
          if (ro && !ro.accepted) rejected(label, ro.rejection);
          else { activity(`${label}: accepted`, true); }
          return;
        }
        if (out.orderId) store.setItem(KEY_ORDER + cartId, out.orderId); // before render shows it
        if (out.cart) render(out.cart);
        if (out.accepted) {
          activity(`${label}: accepted`, true);
          notice("success", out.orderId ? `${label}: order ${out.orderId} placed.` : `${label}.`);
          startWatch();
          loadMyCarts();
        } else {
          rejected(label, out.rejection);
        }
      } catch (e) {
        failed(label, e);
      } finally {
        document.body.classList.remove("busy");
        refreshStock();
      }
    };
    queue = queue.then(run, run);
    return queue;
  };
  const rejected = (label, rej) => {
    const code = (rej && rej.reason) || "REASON_CODE_UNSPECIFIED";
    if (code === "REASON_CODE_OUT_OF_STOCK") markShort((rej && rej.message) || "");
    activity(`${label}: rejected (${code.replace("REASON_CODE_", "")})`, false);
    notice("error", `Rejected: ${reasonText(code)}`, rej && rej.message ? `(${rej.message})` : "", code);
  };
  // The lines a stock rejection names ("sku X (2 wanted, 1 available)").
  const markShort = (message) => {
    for (const li of document.querySelectorAll("#lines .line")) {
      const sku = li.dataset.testid.replace(/^line-/, "");
      li.dataset.short = String(message.includes(`sku ${sku} `) || message.endsWith(`sku ${sku}`));
    }
  };
  const failed = (label, e) => {
    let msg = e.message;
    if (e instanceof APIError && e.status === 401) {
      msg = token ? "the token was refused (expired, or for another server): open the page with ?token=<a new one>"
        : "this server wants a bearer token: open the page with ?token=<your token>";
    }
    if (e instanceof APIError && e.body && Array.isArray(e.body.details)) {
      const bad = e.body.details.flatMap((d) => d.fieldViolations || []);
      if (bad.length) msg = bad.map((v) => `${v.field}: ${v.description}`).join("; ");
    }
    activity(`${label}: failed (${msg})`, false);
    notice("error", `${label} failed:`, msg);
  };

  const addItem = (p, quantity) => command(`Add ${quantity} × ${p.name}`, "POST", `/carts/${enc(cartId)}/items`,
    { requestId: uuid(), ...who(), sku: p.sku, quantity, waitForOutcome: true });
  const changeQuantity = (sku, quantity) => command(`Set ${nameOf(sku)} to ${quantity}`, "PATCH", `/carts/${enc(cartId)}/items/${enc(sku)}`,
    { requestId: uuid(), quantity, waitForOutcome: true });
  const removeItem = (sku) => command(`Remove ${nameOf(sku)}`, "DELETE",
    `/carts/${enc(cartId)}/items/${enc(sku)}?requestId=${enc(uuid())}&waitForOutcome=true`);
  const checkout = () => command("Check out", "POST", `/carts/${enc(cartId)}:checkout`,
    { requestId: uuid(), ...who(), waitForOutcome: true });
  const clearCart = () => command("Empty the cart", "POST", `/carts/${enc(cartId)}:clear`,
    { requestId: uuid(), ...who(), waitForOutcome: true });
  const who = () => (token ? {} : { customerId });
  const nameOf = (sku) => (products.get(sku) || { name: sku }).name;

  // ---- live updates: WatchCart as newline-delimited JSON -----------------
  let watching = null; // AbortController of the open stream
  let retry = 0;
  const live = (state, text) => {
    const l = $("[data-testid=live]");
    l.dataset.state = state;
    l.textContent = text;
  };
  const startWatch = () => {
    if (watching) return;
    const ctl = new AbortController();
    watching = ctl;
    watch(ctl).finally(() => { if (watching === ctl) watching = null; });
  };
  const watch = async (ctl) => {
    const id = cartId;
    try {
      const resp = await fetch(`${API}/carts/${enc(id)}:watch`, { signal: ctl.signal, headers: { Accept: "application/json", ...authHeaders() } });
      if (resp.status === 404) { live("idle", "new cart"); return; } // watched again after the first command
      if (resp.status === 401) { live("idle", "sign in"); return; }
      if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
      live("live", "live");
      retry = 0;
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (!line) continue;
          const msg = JSON.parse(line);
          if (msg.result && msg.result.cart && id === cartId) render(msg.result.cart);
          if (msg.error) throw new Error(msg.error.message || "stream error");
        }
      }
      if (cart && cart.status === "CART_STATUS_CHECKED_OUT") { live("done", "checked out"); return; }
      throw new Error("stream ended");
    } catch (e) {
      if (ctl.signal.aborted || id !== cartId) return;
      live("retry", "reconnecting…");
      retry = Math.min(retry + 1, 5);
      await new Promise((r) => setTimeout(r, 500 * 2 ** retry));
      if (watching === ctl && id === cartId) { watching = null; startWatch(); }
    }
  };

  const loadCart = async () => {
    try {
      const got = await call("GET", `/carts/${enc(cartId)}`);
      render(got.cart);
      startWatch();
    } catch (e) {
      if (e instanceof APIError && e.status === 404) { render(null); live("idle", "new cart"); return; }
      if (e instanceof APIError && e.status === 503) { live("retry", "starting…"); setTimeout(loadCart, 1000); return; }
      failed("Load the cart", e);
    }
  };

  // ---- the customer's open carts (ListCarts) ---------------------------
  // In development mode the page names its customer; with a token the
  // gateway takes the customer from the token whatever the path says.
  const switchTo = (id) => {
    if (id === cartId) return;
    if (watching) watching.abort();
    watching = null;
    cartId = id;
    store.setItem(KEY_CART, cartId);
    cart = null;
    render(null);
    activity(`Switched to cart ${id}`, true);
    loadCart();
    loadMyCarts();
  };
  const loadMyCarts = async () => {
    const list = $("#my-carts");
    let got;
    try {
      got = await call("GET", `/customers/${enc(customerId)}/carts`);
    } catch { return; } // a hint only: the cart itself works without it
    list.replaceChildren();
    for (const c of got.carts || []) {
      const current = c.cartId === cartId;
      const open = el("button", { type: "button", class: "ghost", "data-testid": `open-cart-${c.cartId}`, text: current ? "this cart" : "open" });
      open.disabled = current;
      open.addEventListener("click", () => switchTo(c.cartId));
      list.append(el("li", { "data-testid": `my-cart-${c.cartId}`, "data-current": String(current) },
        el("code", { text: c.cartId }),
        el("span", { class: "muted", text: ` · ${c.itemCount || 0} items · ${formatMoney(c.subtotal)} ` }),
        open));
    }
    if (!list.children.length) list.append(el("li", { class: "muted", text: "none yet" }));
  };

  // /healthz names development mode; the badge says which mode the page is in.
  const showMode = async () => {
    const badge = $("[data-testid=auth-mode]");
    try {
      const h = await (await fetch("/healthz", { headers: { Accept: "application/json" } })).json();
      badge.dataset.mode = h.auth ? "development" : (token ? "token" : "no-token");
      badge.textContent = h.auth ? "development mode: not signed in" : (token ? "signed in with a token" : "no token: add ?token=…");
      badge.title = h.auth || "";
      badge.hidden = false;
    } catch { /* the badge is a hint only */ }
  };

  // ---- the catalog -------------------------------------------------------
  const loadProducts = async () => {
    const box = $("#products");
    let all = [];
    try {
      let token = "";
      do {
        const page = await call("GET", `/products?includeInactive=true&pageSize=500${token ? `&pageToken=${enc(token)}` : ""}`);
        all = all.concat(page.products || []);
        token = page.nextPageToken || "";
      } while (token);
    } catch (e) {
      if (e instanceof APIError && e.status === 503) { setTimeout(loadProducts, 1000); return; }
      box.replaceChildren(el("p", { class: "muted", text: `Could not load the catalog: ${e.message}` }));
      return;
    }
    // The cap most products share is the server's default: only lower caps
    // are worth a badge.
    const caps = new Map();
    for (const p of all) caps.set(p.maxQuantityPerLine, (caps.get(p.maxQuantityPerLine) || 0) + 1);
    const usualCap = [...caps.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] || Infinity;
    const tpl = $("#product-tpl");
    box.replaceChildren();
    for (const p of all) {
      products.set(p.sku, p);
      const node = tpl.content.firstElementChild.cloneNode(true);
      node.dataset.testid = `product-${p.sku}`;
      node.dataset.active = String(!!p.active);
      node.classList.toggle("inactive", !p.active);
      node.querySelector(".product-name").textContent = p.name;
      node.querySelector(".product-sku").textContent = p.sku;
      const price = node.querySelector(".product-price");
      price.textContent = formatMoney(p.unitPrice);
      price.dataset.testid = `price-${p.sku}`;
      const badges = node.querySelector(".product-badges");
      if (!p.active) badges.append(el("span", { class: "badge warn", text: "not for sale" }));
      if (p.maxQuantityPerLine && p.maxQuantityPerLine < usualCap) badges.append(el("span", { class: "badge", text: `max ${p.maxQuantityPerLine} per order` }));
      if (p.unitPrice && p.unitPrice.currencyCode !== "EUR") badges.append(el("span", { class: "badge info", text: `priced in ${p.unitPrice.currencyCode}` }));
      showStock(node, p);
      const qty = node.querySelector(".qty");
      qty.dataset.testid = `qty-${p.sku}`;
      qty.id = `qty-${p.sku}`;
      qty.setAttribute("aria-label", `Quantity of ${p.name}`);
      const add = node.querySelector(".add");
      add.dataset.testid = `add-${p.sku}`;
      add.setAttribute("aria-label", `Add ${p.name} to cart`);
      node.querySelector(".add-form").addEventListener("submit", (ev) => {
        ev.preventDefault();
        const q = parseInt(qty.value, 10);
        if (!(q >= 1 && q <= 999)) { notice("error", "Quantity must be between 1 and 999."); return; }
        addItem(p, q);
      });
      box.append(node);
    }
    box.setAttribute("aria-busy", "false");
    box.dataset.loaded = "true";
    stockTimer = setTimeout(refreshStock, 15000);
    applyFilter();
    render(cart);
  };
  // Stock: the catalog's available units of counted products (none for the
  // others: not limited). Few left is worth a badge; none disables the add.
  const LOW_STOCK = 5;
  const showStock = (node, p) => {
    let b = node.querySelector(".stock");
    if (!b) {
      b = el("span", { class: "badge stock", "data-testid": `stock-${p.sku}` });
      node.querySelector(".product-badges").append(b);
    }
    const counted = p.availableUnits !== undefined && p.availableUnits !== null;
    const n = counted ? Number(p.availableUnits) : Infinity;
    b.dataset.available = counted ? String(n) : "";
    b.hidden = !(n <= LOW_STOCK);
    b.classList.toggle("warn", n === 0);
    b.textContent = n === 0 ? "out of stock" : `only ${n} left`;
    node.dataset.soldOut = String(n === 0);
  };
  let stockTimer = 0;
  const refreshStock = async () => {
    clearTimeout(stockTimer);
    stockTimer = setTimeout(refreshStock, 15000);
    let token = "";
    try {
      do {
        const page = await call("GET", `/products?includeInactive=true&pageSize=500${token ? `&pageToken=${enc(token)}` : ""}`);
        for (const p of page.products || []) {
          const node = document.querySelector(`[data-testid="product-${p.sku}"]`);
          if (node) { products.set(p.sku, p); showStock(node, p); }
        }
        token = page.nextPageToken || "";
      } while (token);
    } catch { /* the next refresh tries again */ }
  };

  const applyFilter = () => {
    const show = $("#show-inactive").checked;
    for (const n of document.querySelectorAll(".product.inactive")) n.hidden = !show;
  };

  // ---- wiring ------------------------------------------------------------
  $("#checkout").addEventListener("click", checkout);
  $("#clear-cart").addEventListener("click", clearCart);
  $("#new-cart").addEventListener("click", () => {
    if (watching) watching.abort();
    watching = null;
    cartId = newId("cart");
    store.setItem(KEY_CART, cartId);
    cart = null;
    render(null);
    live("idle", "new cart");
    activity("Started a new cart", true);
    loadMyCarts();
  });
  $("#show-inactive").addEventListener("change", applyFilter);
  $("[data-testid=cart-id]").textContent = cartId;
  render(null);
  showMode();
  loadProducts();
  loadCart();
  loadMyCarts();
})();
