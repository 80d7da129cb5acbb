/*
 * The demo shop: product list, product page, cart, checkout, purchase. Plain JavaScript;
 * the cart lives in localStorage. Every step calls the tracker (window.clickstream).
 */
(function () {
  "use strict";

  var CART_KEY = "shop.cart";
  var ORDER_KEY = "shop.order";
  var content = document.getElementById("content");

  function money(amount, currency) {
    return new Intl.NumberFormat("en-IE", { style: "currency", currency: currency }).format(amount);
  }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function priceHtml(product, currency) {
    if (product.discount_price !== null && product.discount_price !== undefined) {
      return "<s>" + money(product.price, currency) + "</s>" + money(product.discount_price, currency);
    }
    return money(product.price, currency);
  }
  function unitPrice(product) {
    return product.discount_price !== null && product.discount_price !== undefined ? product.discount_price : product.price;
  }

  function loadCart() {
    try { return JSON.parse(localStorage.getItem(CART_KEY)) || []; } catch (e) { return []; }
  }
  function saveCart(cart) {
    localStorage.setItem(CART_KEY, JSON.stringify(cart));
    var count = cart.reduce(function (n, line) { return n + line.quantity; }, 0);
    document.getElementById("cart-link").textContent = "Cart (" + count + ")";
  }

  // What the tracker sends as context.product (contract v1 field names).
  function trackedProduct(product, quantity) {
    var tracked = {
      id: product.id, name: product.name, category: product.category, brand: product.brand,
      price: product.price, discount_price: product.discount_price, url_path: product.url_path
    };
    if (quantity) tracked.quantity = quantity;
    return tracked;
  }

  function newOrderId() {
    return "ord-" + (window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Date.now())).replace(/-/g, "").slice(0, 16);
  }

  // ---------------------------------------------------------------- pages

  function listPage(catalogue) {
    var cards = catalogue.products.map(function (p) {
      return '<div class="card" data-product-id="' + escapeHtml(p.id) + '">' +
        '<div class="category">' + escapeHtml(p.category) + "</div>" +
        "<h3>" + escapeHtml(p.name) + "</h3>" +
        '<p class="price">' + priceHtml(p, catalogue.currency) + "</p>" +
        '<a class="button" href="product.html?id=' + encodeURIComponent(p.id) + '">View</a></div>';
    });
    content.innerHTML = "<h1>Laptops, monitors and accessories</h1><div class=\"grid\">" + cards.join("") + "</div>";
  }

  function productPage(catalogue) {
    var id = new URLSearchParams(location.search).get("id");
    var product = catalogue.products.filter(function (p) { return p.id === id; })[0];
    if (!product) {
      document.title = "Not found | Example Computer Shop";
      clickstream.pageView();
      content.innerHTML = '<p>No such product. <a href="index.html">Back to the list</a>.</p>';
      return;
    }
    document.title = product.name + " | Example Computer Shop";
    clickstream.pageView();
    clickstream.track("product_view", trackedProduct(product));
    content.innerHTML = '<div class="card"><div class="category">' + escapeHtml(product.category) + " · " +
      escapeHtml(product.brand) + "</div><h1>" + escapeHtml(product.name) + "</h1>" +
      '<p class="price">' + priceHtml(product, catalogue.currency) + "</p>" +
      '<label for="quantity">Quantity</label><input id="quantity" type="number" min="1" max="10" value="1">' +
      '<p><button id="add-to-cart">Add to cart</button></p><div id="added"></div></div>';
    document.getElementById("add-to-cart").addEventListener("click", function () {
      var quantity = Math.max(1, Math.min(10, parseInt(document.getElementById("quantity").value, 10) || 1));
      var cart = loadCart();
      var line = cart.filter(function (l) { return l.id === product.id; })[0];
      if (line) line.quantity += quantity; else cart.push({ id: product.id, quantity: quantity });
      saveCart(cart);
      clickstream.track("add_to_cart", trackedProduct(product, quantity));
      document.getElementById("added").innerHTML =
        '<p class="notice">Added ' + quantity + ' to your cart. <a id="go-to-cart" href="cart.html">Go to the cart</a></p>';
    });
  }

  function cartRows(catalogue, cart) {
    return cart.map(function (line) {
      var p = catalogue.byId[line.id];
      return "<tr><td>" + escapeHtml(p.name) + "</td><td>" + line.quantity + "</td><td>" +
        money(unitPrice(p) * line.quantity, catalogue.currency) + '</td><td><button class="secondary remove" data-id="' +
        escapeHtml(p.id) + '">Remove</button></td></tr>';
    }).join("");
  }

  function cartTotal(catalogue, cart) {
    return cart.reduce(function (sum, line) { return sum + unitPrice(catalogue.byId[line.id]) * line.quantity; }, 0);
  }

  function cartPage(catalogue) {
    var cart = loadCart().filter(function (line) { return catalogue.byId[line.id]; });
    if (!cart.length) {
      content.innerHTML = '<h1>Your cart</h1><p>Your cart is empty. <a href="index.html">See the products</a>.</p>';
      return;
    }
    content.innerHTML = "<h1>Your cart</h1><table><tr><th>Product</th><th>Quantity</th><th>Amount</th><th></th></tr>" +
      cartRows(catalogue, cart) + "</table><p class=\"price\">Total " + money(cartTotal(catalogue, cart), catalogue.currency) +
      '</p><p><a class="button" id="checkout" href="checkout.html">Checkout</a></p>';
    Array.prototype.forEach.call(document.querySelectorAll("button.remove"), function (button) {
      button.addEventListener("click", function () {
        var id = button.getAttribute("data-id");
        var line = cart.filter(function (l) { return l.id === id; })[0];
        saveCart(cart.filter(function (l) { return l.id !== id; }));
        clickstream.track("remove_from_cart", trackedProduct(catalogue.byId[id], line.quantity));
        cartPage(catalogue);
      });
    });
  }

  function checkoutPage(catalogue) {
    var cart = loadCart().filter(function (line) { return catalogue.byId[line.id]; });
    if (!cart.length) {
      content.innerHTML = '<h1>Checkout</h1><p>Your cart is empty. <a href="index.html">See the products</a>.</p>';
      return;
    }
    var order = { order_id: newOrderId(), currency: catalogue.currency };
    localStorage.setItem(ORDER_KEY, JSON.stringify(order));
    clickstream.track("checkout", null, order);
    content.innerHTML = "<h1>Checkout</h1><table><tr><th>Product</th><th>Quantity</th><th>Amount</th><th></th></tr>" +
      cartRows(catalogue, cart) + "</table><p class=\"price\">Total " + money(cartTotal(catalogue, cart), catalogue.currency) + "</p>" +
      '<form id="pay"><label for="email">E-mail</label><input id="email" type="email" value="ada@example.com">' +
      '<p><button id="place-order" type="submit">Place order</button></p></form>';
    Array.prototype.forEach.call(document.querySelectorAll("button.remove"), function (button) { button.remove(); });
    document.getElementById("pay").addEventListener("submit", function (submitted) {
      submitted.preventDefault();
      cart.forEach(function (line) {
        clickstream.track("purchase", trackedProduct(catalogue.byId[line.id], line.quantity), order);
      });
      saveCart([]);
      // Send before leaving; if it cannot finish, the next page (or pagehide) sends it.
      clickstream.flush().then(function () { location.href = "thanks.html?order=" + encodeURIComponent(order.order_id); });
    });
  }

  function thanksPage() {
    var orderId = new URLSearchParams(location.search).get("order") || "";
    content.innerHTML = '<h1>Thank you!</h1><p class="notice">Order <strong id="order-id">' + escapeHtml(orderId) +
      '</strong> is on its way.</p><p><a href="index.html">Keep shopping</a></p>';
  }

  // ---------------------------------------------------------------- consent banner

  // Only on pages whose tracker is loaded with data-consent="required": ask once (the tracker
  // remembers the answer), and let the visitor change their mind from the footer.
  function showConsentBanner() {
    if (document.getElementById("consent-banner")) return;
    var banner = document.createElement("div");
    banner.id = "consent-banner";
    banner.setAttribute("role", "dialog");
    banner.setAttribute("aria-label", "Tracking consent");
    banner.innerHTML = "<p>May we record how you use this shop, to improve it? Nothing is sent " +
      "until you agree, and you can change your mind at any time under Privacy choices.</p>" +
      '<button id="consent-accept">Accept</button> <button id="consent-decline" class="secondary">Decline</button>';
    document.body.appendChild(banner);
    function choose(state) {
      clickstream.consent(state);
      banner.parentNode.removeChild(banner);
    }
    document.getElementById("consent-accept").addEventListener("click", function () { choose("granted"); });
    document.getElementById("consent-decline").addEventListener("click", function () { choose("denied"); });
  }

  function setUpConsent() {
    if (!window.clickstream || !clickstream.consentRequired()) return;
    var link = document.createElement("a");
    link.id = "privacy-choices";
    link.href = "#";
    link.textContent = "Privacy choices";
    link.addEventListener("click", function (event) {
      event.preventDefault();
      showConsentBanner();
    });
    var footer = document.querySelector("footer");
    footer.appendChild(document.createTextNode(" "));
    footer.appendChild(link);
    if (clickstream.consentState() === null) showConsentBanner();
  }

  setUpConsent();

  var pages = { list: listPage, product: productPage, cart: cartPage, checkout: checkoutPage, thanks: thanksPage };

  fetch("catalogue.json").then(function (response) { return response.json(); }).then(function (catalogue) {
    catalogue.byId = {};
    catalogue.products.forEach(function (p) { catalogue.byId[p.id] = p; });
    saveCart(loadCart());
    pages[document.body.getAttribute("data-page")](catalogue);
    document.body.setAttribute("data-ready", "true");
  }).catch(function (error) {
    content.innerHTML = "<p>The shop could not load its catalogue: " + escapeHtml(error.message) + "</p>";
  });
})();
