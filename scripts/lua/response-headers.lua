-- Response header rewriting.
-- Removes headers that leak the stack (server, x-powered-by, x-aspnet-version), adds
-- x-served-by, and turns a backend's 'Cache-Control: private' into 'no-store' on /account.
function onResponse()
  response.remove_header("server")
  response.remove_header("x-powered-by")
  response.remove_header("x-aspnet-version")
  response.set_header("x-served-by", vars.served_by or "divisor")
  if request.path():sub(1, 8) == "/account" and response.header("cache-control") == "private" then
    response.set_header("cache-control", "no-store")
  end
end
