import assert from "node:assert/strict";
import { test } from "node:test";
import { stickySchema } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { createSticky } from "../../src/service/sticky.js";
import { makeBackends } from "./balancers/helpers.js";

const defaults = stickySchema.parse({});

test("a cookie value leads back to the backend it was made for", () => {
  const backends = makeBackends([1, 1, 1, 1]);
  const sticky = createSticky(backends, defaults);
  for (const backend of backends) assert.equal(sticky.find(sticky.valueFor(backend)), backend);
  assert.equal(new Set(backends.map((b) => sticky.valueFor(b))).size, 4);
});

test("the cookie value is short, cookie-safe and does not show the backend's address", () => {
  const [backend] = makeBackends([1]);
  const value = createSticky([backend!], defaults).valueFor(backend!);
  assert.match(value, /^[A-Za-z0-9_-]{12}$/);
  assert.ok(!value.includes(backend!.host) && !value.includes(String(backend!.port)));
});

test("the cookie value stays the same across reloads and gateway instances", () => {
  const first = makeBackends([1, 1]);
  const second = makeBackends([5, 2]); // same ids, new objects, new weights
  const a = createSticky(first, defaults);
  const b = createSticky(second, stickySchema.parse({ cookie: "other" }));
  assert.equal(b.valueFor(second[1]!), a.valueFor(first[1]!));
  assert.equal(b.find(a.valueFor(first[1]!)), second[1]);
});

test("backends of different services get different values for the same address", () => {
  const [api] = makeBackends([1], "api");
  const [web] = makeBackends([1], "web");
  assert.notEqual(createSticky([api!], defaults).valueFor(api!), createSticky([web!], defaults).valueFor(web!));
});

test("an unavailable sticky backend is not returned, and is again once it is back", () => {
  const backends = makeBackends([1, 1]);
  const sticky = createSticky(backends, defaults);
  const value = sticky.valueFor(backends[0]!);
  backends[0]!.available = false;
  assert.equal(sticky.find(value), undefined);
  backends[0]!.available = true;
  assert.equal(sticky.find(value), backends[0]);
});

test("a drained backend (weight 0) keeps its sticky clients so their sessions can finish", () => {
  const backends = makeBackends([0, 1]);
  const sticky = createSticky(backends, defaults);
  assert.equal(sticky.find(sticky.valueFor(backends[0]!)), backends[0]);
});

test("no cookie, an unknown value or a value for another service finds nothing", () => {
  const backends = makeBackends([1, 1]);
  const sticky = createSticky(backends, defaults);
  const [other] = makeBackends([1], "other");
  assert.equal(sticky.find(undefined), undefined);
  assert.equal(sticky.find(""), undefined);
  assert.equal(sticky.find("not-a-backend"), undefined);
  assert.equal(sticky.find(createSticky([other!], defaults).valueFor(other!)), undefined);
});

test("sets a session cookie with Path=/, HttpOnly and SameSite=Lax by default", () => {
  const [backend] = makeBackends([1]);
  const sticky = createSticky([backend!], defaults);
  assert.equal(sticky.setCookieHeader(backend!), `divisor_sticky=${sticky.valueFor(backend!)}; Path=/; HttpOnly; SameSite=Lax`);
});

test("adds Max-Age in seconds and Secure, and leaves out HttpOnly, as configured", () => {
  const [backend] = makeBackends([1]);
  const config = stickySchema.parse({ cookie: "srv", maxAge: "1h", secure: true, httpOnly: false, sameSite: "Strict" });
  const sticky = createSticky([backend!], config);
  assert.equal(sticky.setCookieHeader(backend!), `srv=${sticky.valueFor(backend!)}; Path=/; Max-Age=3600; Secure; SameSite=Strict`);
});

test("SameSite=None always comes with Secure, which browsers require", () => {
  const [backend] = makeBackends([1]);
  const sticky = createSticky([backend!], stickySchema.parse({ sameSite: "None" }));
  assert.match(sticky.setCookieHeader(backend!), /; Secure; SameSite=None$/);
});

test("builds the cookie for a backend it was not built with", () => {
  const [backend] = makeBackends([1]);
  const [late] = makeBackends([1], "late");
  const sticky = createSticky([backend!], defaults);
  assert.equal(sticky.setCookieHeader(late!), `divisor_sticky=${sticky.valueFor(late!)}; Path=/; HttpOnly; SameSite=Lax`);
});

test("rejects a cookie name that would break the Set-Cookie header", () => {
  assert.throws(() => createSticky([], stickySchema.parse({ cookie: "a b;c" })), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.issues[0]!.path, "sticky.cookie");
    return true;
  });
});
