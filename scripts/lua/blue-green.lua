-- Blue/green switch.
-- Every request goes to the service named by the kv key "live" (set by an operator
-- script or a previous request), else vars.live. A request with `x-deploy-flip: <service>`
-- and the right vars.token flips the switch for everyone.
-- Config: services: [blue, green]; vars: { blue: blue, green: green, live: blue, token: s3cret }.
function onRequest()
  local flip = request.header("x-deploy-flip")
  if flip ~= nil then
    if request.header("x-deploy-token") ~= vars.token then
      return respond(403, "bad deploy token\n")
    end
    if flip ~= vars.blue and flip ~= vars.green then
      return respond(400, "x-deploy-flip names neither " .. vars.blue .. " nor " .. vars.green .. "\n")
    end
    kv.set("live", flip)
    return respond(200, "live: " .. flip .. "\n")
  end
  route.use_service(kv.get("live") or vars.live)
end
