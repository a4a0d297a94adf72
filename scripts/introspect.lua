-- POST an access token to the RFC 7662 introspection endpoint, authenticated with the
-- introspection secret: INTROSPECT_TOKEN and INTROSPECTION_SECRET from the environment.
wrk.method = "POST"
wrk.path = "/auth/token/introspect/"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("INTROSPECTION_SECRET"))
wrk.body = "token=" .. assert(os.getenv("INTROSPECT_TOKEN"))

done = function(summary, latency)
  io.write(string.format("%-34s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d\n",
    "auth POST /auth/token/introspect/", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
