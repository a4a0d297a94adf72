// A TypeScript client typed from openapi/auth.json and openapi/customers.json (openapi-typescript,
// generated into generated/ on every run) drives the API through openapi-fetch. Compiled with
// strict tsc first, so a document change that breaks this code fails before anything runs.
// Needs AUTH_URL and CUSTOMERS_URL (tests/interop/run.sh starts a server and exports them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import createClient from "openapi-fetch";
import type { components as AuthComponents, paths as AuthPaths } from "./generated/auth.js";
import type { components as CustomerComponents, paths as CustomerPaths } from "./generated/customers.js";

type TokenPair = AuthComponents["schemas"]["TokenPair"];
type ErrorBody = AuthComponents["schemas"]["ErrorBody"];
type Customer = CustomerComponents["schemas"]["Customer"];

const AUTH_URL = process.env.AUTH_URL ?? assert.fail("AUTH_URL is not set: run tests/interop/run.sh");
const CUSTOMERS_URL = process.env.CUSTOMERS_URL ?? assert.fail("CUSTOMERS_URL is not set: run tests/interop/run.sh");
const PASSWORD = "Bx7#mq2Lz9Vw";

const auth = createClient<AuthPaths>({ baseUrl: AUTH_URL });

async function register(username: string): Promise<void> {
  const { data, error, response } = await auth.POST("/auth/register", {
    body: { username, email: `${username}@example.com`, password: PASSWORD, password2: PASSWORD, gst_no: "gst12345" },
  });
  assert.equal(response.status, 201, JSON.stringify(error));
  assert.equal(data?.username, username);
  assert.equal(data?.role, "customer");
}

test("register, obtain, refresh, then create and list customers", async () => {
  const username = `gents_${randomUUID().slice(0, 12)}`;
  await register(username);

  const obtained = await auth.POST("/auth/token", { body: { username, password: PASSWORD } });
  assert.equal(obtained.response.status, 200, JSON.stringify(obtained.error));
  const pair: TokenPair = obtained.data ?? assert.fail("no token pair");

  const refreshed = await auth.POST("/auth/token/refresh", { body: { refresh: pair.refresh } });
  assert.equal(refreshed.response.status, 200, JSON.stringify(refreshed.error));
  const access: string = refreshed.data?.access ?? assert.fail("no access token");
  assert.ok(refreshed.data?.refresh && refreshed.data.refresh !== pair.refresh, "refresh token was not rotated");

  const customers = createClient<CustomerPaths>({
    baseUrl: CUSTOMERS_URL,
    headers: { Authorization: `Bearer ${access}` },
  });
  const created = await customers.POST("/customers", {
    body: { name: "Asha Stores", mobile: "9876543210", customer_type: "retail" },
  });
  assert.equal(created.response.status, 201, JSON.stringify(created.error));
  const customer: Customer = created.data ?? assert.fail("no customer");
  assert.deepEqual([customer.name, customer.mobile, customer.customer_type], ["Asha Stores", "9876543210", "retail"]);
  assert.ok(!Number.isNaN(Date.parse(customer.created_at)), customer.created_at);

  const listed = await customers.GET("/customers", { params: { query: { page: 1, page_size: 100 } } });
  assert.equal(listed.response.status, 200, JSON.stringify(listed.error));
  const page = listed.data ?? assert.fail("no page");
  assert.ok(page.count >= 1);
  assert.ok(page.results.some((row: Customer) => row.id === customer.id), "created customer not listed");
});

test("a wrong password is a typed error with code no_active_account", async () => {
  const username = `gents_${randomUUID().slice(0, 12)}`;
  await register(username);
  const { data, error, response } = await auth.POST("/auth/token", { body: { username, password: `${PASSWORD}x` } });
  assert.equal(response.status, 401);
  assert.equal(data, undefined);
  const body: ErrorBody = error ?? assert.fail("no error body");
  assert.equal(body.code, "no_active_account");
});
