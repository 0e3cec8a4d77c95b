-- A/B by cookie.
-- A client with cookie `ab=b` goes to service vars.b; one with `ab=a` to vars.a; a new
-- client is assigned by a hash of its address and gets the cookie on the response.
-- Config: services: [site-a, site-b]; vars: { a: site-a, b: site-b }.
local function bucket(ip)
  local h = 0
  for i = 1, #ip do h = (h * 31 + ip:byte(i)) % 1000003 end
  return (h % 2 == 0) and "a" or "b"
end

function onRequest()
  local arm = request.cookie("ab")
  if arm ~= "a" and arm ~= "b" then
    arm = bucket(request.client_ip())
    request.set_header("x-ab-assign", arm)
  end
  route.use_service(arm == "a" and vars.a or vars.b)
end

function onResponse()
  local assigned = request.header("x-ab-assign")
  if assigned ~= nil then
    response.add_header("set-cookie", "ab=" .. assigned .. "; Path=/; HttpOnly")
  end
end
