-- Custom auth header check.
-- Requests must carry `x-api-token` (or vars.header) equal to one of the comma-separated
-- vars.tokens; others get 401. The token is removed before the request goes upstream.
local header = vars.header or "x-api-token"
local allowed = {}
for token in string.gmatch(vars.tokens or "", "[^,%s]+") do allowed[token] = true end

function onRequest()
  local token = request.header(header)
  if token == nil or not allowed[token] then
    return respond(401, "missing or wrong " .. header .. "\n", { ["www-authenticate"] = "Token" })
  end
  request.remove_header(header)
end
