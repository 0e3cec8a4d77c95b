-- Geo/tenant routing by header.
-- `x-region: eu` (or the first label of the host, for tenant subdomains) picks a service
-- from vars: region_<value> = <service>; unknown values stay on the router's service.
-- Config: services: [api-eu, api-us]; vars: { region_eu: api-eu, region_us: api-us }.
function onRequest()
  local region = request.header(vars.header or "x-region")
  if region == nil then region = request.host():match("^([^.]+)%.") end
  if region == nil then return end
  local service = vars["region_" .. string.lower(region)]
  if service ~= nil then
    route.use_service(service)
    request.set_header("x-routed-region", string.lower(region))
  end
end
