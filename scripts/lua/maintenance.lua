-- Maintenance page.
-- While vars.maintenance is "on", answer 503 with a page (vars.page) and Retry-After,
-- except for clients sending vars.bypass_header (e.g. the team checking the release).
local page = vars.page or "<h1>Down for maintenance</h1><p>Back soon.</p>\n"

function onRequest()
  if vars.maintenance ~= "on" then return end
  if vars.bypass_header ~= nil and request.header(vars.bypass_header) ~= nil then return end
  return respond(503, page, { ["content-type"] = "text/html; charset=utf-8", ["retry-after"] = vars.retry_after or "600" })
end
